// Proves the public header compiles alone as C++ and links with C linkage to the library's version.
#include <clsoftmax.h>

#include <cstdio>
#include <string>

int main()
{
    const std::string want = std::to_string(CLSM_VERSION_MAJOR) + "." +
                             std::to_string(CLSM_VERSION_MINOR) + "." +
                             std::to_string(CLSM_VERSION_PATCH);
    const char *got = clsm_version();
    if (got == nullptr || want != got) {
        std::fprintf(stderr, "clsm_version() is \"%s\", the header says \"%s\"\n",
                     got != nullptr ? got : "(null)", want.c_str());
        return 1;
    }
    return 0;
}
