/* parity_main.c: the export's parity harness for policy.c (dnne-robot export-policy --format c).
 *
 * Reads raw observations from stdin, POLICY_OBS_DIM native float32 values each, and writes for
 * each one an int32 (policy_act's return code) and POLICY_ACT_DIM float32 values (the action,
 * or NaN where policy_act left it untouched) to stdout. Exits 0 at the end of the input.
 *
 *   cc -std=c99 -O2 -o parity parity_main.c policy.c -lm
 */
#include <math.h>
#include <stdio.h>

#include "policy.h"

int main(void)
{
    float obs[POLICY_OBS_DIM];
    float action[POLICY_ACT_DIM];
    int i, code;

    while (fread(obs, sizeof obs, 1, stdin) == 1) {
        for (i = 0; i < POLICY_ACT_DIM; ++i) action[i] = NAN;
        code = policy_act(obs, action);
        if (fwrite(&code, sizeof code, 1, stdout) != 1
            || fwrite(action, sizeof action, 1, stdout) != 1) {
            perror("parity: write");
            return 2;
        }
    }
    if (ferror(stdin)) {
        perror("parity: read");
        return 2;
    }
    return fflush(stdout) == 0 ? 0 : 2;
}
