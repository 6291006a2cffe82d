# ratusz-bench wire: the secure channel lives in rz_common, which every
# benchmark links already.
set(BENCH_LIBS "")
