# The test support that needs no Criterion (test data, checks, the f64 reference, the
# entry-point table), for the Criterion suites, the drivers and the fuzzer alike. It leaves
# the library to link to its users: the suites take the shared one, the fuzzer the static one.
if(NOT TARGET clsm_test_core)
  add_library(clsm_test_core STATIC
    ${CMAKE_CURRENT_LIST_DIR}/values.c
    ${CMAKE_CURRENT_LIST_DIR}/checks.c
    ${CMAKE_CURRENT_LIST_DIR}/reference.c
    ${CMAKE_CURRENT_LIST_DIR}/sample_reference.c
    ${CMAKE_CURRENT_LIST_DIR}/entries.c)
  target_include_directories(clsm_test_core PUBLIC ${CMAKE_CURRENT_LIST_DIR}
                             ${PROJECT_SOURCE_DIR}/include)
  target_compile_definitions(clsm_test_core PUBLIC CL_TARGET_OPENCL_VERSION=120)
  target_link_libraries(clsm_test_core PUBLIC OpenCL::OpenCL m)
endif()
