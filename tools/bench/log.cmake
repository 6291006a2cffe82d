# ratusz-bench log: the raft log store and its group-commit writer.
set(BENCH_LIBS rz_consensus)
# Its simulator phase (sim_steps_per_s).
target_sources(ratusz-bench PRIVATE bench/bench_log_sim.c)
