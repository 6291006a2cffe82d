/* Every public header of every module in one translation unit: the build
 * fails if two modules define the same name (storage's actor roles and the
 * secure channel's credential roles once did). */
#include "common/common.h"
#include "common/limits.h"
#include "common/secure.h"
#include "consensus/consensus.h"
#include "storage/storage.h"

int rz_all_headers_compile(void);

int rz_all_headers_compile(void)
{
    return RZ_ACTOR_AGENT + RZ_ROLE_AGENT;
}
