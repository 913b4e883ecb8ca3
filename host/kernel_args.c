/* The kernels' argument lists of kernel_args.h as tables that set the arguments by name, and the option tensors among them. */
#include <stddef.h>

#include "internal.h"

typedef struct arg_row {
    const char *name;
    size_t offset, size;
} arg_row;

/* One row per argument (an option tensor: two) of a list, in its order. */
#define ROW(args, name) {#name, offsetof(args, name), sizeof(((args *)0)->name)}
#define ROWS(kind, type, name) ROWS_##kind(name)
#define ROWS_in(name) ROW(ARGS, name),
#define ROWS_out(name) ROW(ARGS, name),
#define ROWS_val(name) ROW(ARGS, name),
#define ROWS_oval(name) ROW(ARGS, name),
#define ROWS_opt_in(name) ROW(ARGS, name), ROW(ARGS, name##_off),
#define ROWS_opt_out(name) ROW(ARGS, name), ROW(ARGS, name##_off),
#define ROWS_scratch(name) ROW(ARGS, name),

#define ARGS clsm_kernel_args
static const arg_row forward_rows[] = {CLSM_FORWARD_ARGS(ROWS, ){NULL, 0, 0}};
#undef ARGS
#define ARGS clsm_backward_args
static const arg_row backward_rows[] = {CLSM_BACKWARD_ARGS(ROWS, ){NULL, 0, 0}};
#undef ARGS
#define ARGS clsm_sample_args
static const arg_row sample_rows[] = {CLSM_SAMPLE_ARGS(ROWS, ){NULL, 0, 0}};
#undef ARGS

static cl_int set_args(cl_kernel kernel, const arg_row *rows, const void *a)
{
    cl_int err = CL_SUCCESS;
    for (cl_uint i = 0; rows[i].name && err == CL_SUCCESS; ++i)
        err = clSetKernelArg(kernel, i, rows[i].size, (const char *)a + rows[i].offset);
    return err;
}

cl_int clsm_set_kernel_args(cl_kernel kernel, const clsm_kernel_args *a)
{
    return set_args(kernel, forward_rows, a);
}

cl_int clsm_set_backward_args(cl_kernel kernel, const clsm_backward_args *a)
{
    return set_args(kernel, backward_rows, a);
}

cl_int clsm_set_sample_args(cl_kernel kernel, const clsm_sample_args *a)
{
    return set_args(kernel, sample_rows, a);
}

const char *clsm_kernel_arg_name(clsm_arg_list list, cl_uint index)
{
    const arg_row *rows = list == CLSM_ARGS_BACKWARD ? backward_rows
                          : list == CLSM_ARGS_SAMPLE ? sample_rows
                                                     : forward_rows;
    for (cl_uint i = 0; rows[i].name; ++i)
        if (i == index)
            return rows[i].name;
    return NULL;
}

/* The option tensors: their clsm_options member and whether the kernels write them. */
#define TENSOR(kind, type, name) TENSOR_##kind(name)
#define TENSOR_in(name)
#define TENSOR_out(name)
#define TENSOR_val(name)
#define TENSOR_oval(name)
#define TENSOR_opt_in(name) {offsetof(clsm_options, name), 0},
#define TENSOR_opt_out(name) {offsetof(clsm_options, name), 1},
#define TENSOR_scratch(name)
static const struct {
    size_t member;
    int written;
} tensors[CLSM_OPTION_TENSORS] = {CLSM_FORWARD_ARGS(TENSOR, )};

clsm_tensor *clsm_option_tensor(const clsm_options *o, clsm_option_tensor_id id)
{
    return (clsm_tensor *)((const char *)o + tensors[id].member);
}

int clsm_option_tensor_written(clsm_option_tensor_id id)
{
    return tensors[id].written;
}
