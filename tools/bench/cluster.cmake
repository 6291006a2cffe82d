# ratusz-bench cluster: libratusz (the public API only) plus rz_common for
# the throw-away cluster's keys.
set(BENCH_LIBS ratusz_static Threads::Threads)
