/* ratuszctl internals: subcommand handlers and exit codes. */
#ifndef RZ_CTL_H
#define RZ_CTL_H

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1  /* the operation failed */
#define CTL_EXIT_USAGE 2 /* unknown subcommand/flag, missing/bad value */

int ctl_keys_main(int argc, char **argv);
#endif
