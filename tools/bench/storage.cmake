# ratusz-bench storage: links the state machine; reads the Warsaw seed from
# the source tree unless --seed-file says otherwise.
set(BENCH_LIBS rz_storage PkgConfig::LMDB)
target_compile_definitions(ratusz-bench PRIVATE
  RZ_BENCH_SEED_PATH="${CMAKE_SOURCE_DIR}/data/warsaw.tsv")
