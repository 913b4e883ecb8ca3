# Script mode: writes the kernel sources in INPUTS into OUTPUT as NUL-terminated C byte arrays.
# Each NAME.cl or NAME.h (from kernels/ or bench/) becomes `const char clsm_src_NAME[]`.
set(code "/* Generated from kernel sources by cmake/embed_kernels.cmake; do not edit. */\n")
foreach(input IN LISTS INPUTS)
  get_filename_component(name ${input} NAME_WE)
  file(READ ${input} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)"
         "\\1\n" bytes "${bytes}")
  string(APPEND code "const char clsm_src_${name}[] = {\n${bytes}0x00};\n")
endforeach()
file(WRITE ${OUTPUT}.tmp "${code}")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
