# ratusz-bench log: the raft log store and its group-commit writer.
set(BENCH_LIBS rz_consensus)
