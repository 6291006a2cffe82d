/* ratusz-bench: the subcommands each benchmark file provides. Each prints
 * progress to stderr and one JSON object as the last line of stdout, and
 * returns a process exit status. */
#ifndef RZ_BENCH_H
#define RZ_BENCH_H

int rz_bench_storage(int argc, char **argv);
int rz_bench_wire(int argc, char **argv);
int rz_bench_log(int argc, char **argv);
int rz_bench_cluster(int argc, char **argv);

/* The simulator phase of `ratusz-bench log` (bench_log_sim.c): runs for
 * about `seconds` of wall time; steps per second and virtual seconds
 * simulated per wall second. */
int rz_bench__sim_steps(double seconds, double *steps_per_s,
                        double *virtual_speedup);

#endif /* RZ_BENCH_H */
