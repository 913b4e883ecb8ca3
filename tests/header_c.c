/* Proves the public header compiles alone as strict C99 and that the library reports the header's version. */
#include <clsoftmax.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", CLSM_VERSION_MAJOR, CLSM_VERSION_MINOR,
             CLSM_VERSION_PATCH);
    const char *got = clsm_version();
    if (got == NULL || strcmp(got, want) != 0) {
        fprintf(stderr, "clsm_version() is \"%s\", the header says \"%s\"\n",
                got != NULL ? got : "(null)", want);
        return 1;
    }
    return 0;
}
