/* tests/test_text_format.c - the text-format reader (proto/text_format.c) and the importers on
 * ".pbtxt" files: every grammar feature on hand-written snippets checked field by field; a
 * hand-made descriptor for the scalar types deft's protos do not use (sint, sfixed, fixed64,
 * proto2 optional with has_ flags and defaults); error messages with line:column; every prefix
 * and every failed allocation of a valid text failing cleanly. Independent reference: Google's
 * protobuf (python3-protobuf, protoc) writes text for real TF files and for a message of tricky
 * values, and deft's parse must pack to the bytes Google serializes; the real TF graphs imported
 * from text must export the same bytes as from binary and compute test_tf1's expected numbers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "any.pb-c.h"
#include "attr_value.pb-c.h"
#include "deft/io.h"
#include "graph.pb-c.h"
#include "proto/text_format.h"
#include "meta_graph.pb-c.h"
#include "node_def.pb-c.h"
#include "base/alloc.h"
#include "base/file_io.h"
#include "saved_model.pb-c.h"
#include "tensor.pb-c.h"
#include "tensor_bundle.pb-c.h"
#include "testutil.h"

#define HF "tf1/haerfest__handson-ml/"
#define KK "tf1/KKeishiro__hands-on-machine-learning/186368e3/"
#define TB "tf1/tao-bai__Hands-on-Machine-Learning/"
#define SERVING "tf1/tensorflow__serving/tensorflow_serving/servables/tensorflow/testdata/"
#define MNIST_PB "tf1/uTensor__utensor_cgen/tests/deep_mlp/simple_mnist.pb"

/* Parses text as a message of type d; fails the test with the status message if it does not. */
static ProtobufCMessage *parse_ok(const ProtobufCMessageDescriptor *d, const char *text) {
  deft_status *st = deft_status_new();
  ProtobufCMessage *m = deft_pb_text_parse(d, text, strlen(text), "snippet", st);
  ck_assert_msg(m != NULL, "%s", deft_status_message(st));
  deft_status_free(st);
  return m;
}

static void str_eq(const char *got, const char *want) { ck_assert_str_eq(got, want); }

static void bytes_eq(ProtobufCBinaryData b, const char *want, size_t n) {
  ck_assert_uint_eq(b.len, n);
  if (n) ck_assert(memcmp(b.data, want, n) == 0);
}

/* ---- grammar, field by field ---- */

START_TEST(node_def_grammar) {
  const char *text =
      "# a comment line\n"
      "name: \"a/b\"  # a trailing comment\n"
      "op: 'MatMul';\n"
      "input: \"x\", input: \"y:1\"\n"
      "input: [\"^c\", 'd']\n"
      "device: \"/cpu:0\"\n"
      "attr { key: \"T\" value { type: DT_FLOAT } }\n"
      "attr: { key: \"transpose_a\" value: < b: true > }\n"
      "attr < key: \"shape\" value { shape { dim { size: -1 }\n"
      "  dim: { size: 0x10 name: \"n\" } } } >\n"
      "attr [ { key: \"l\" value { list { i: [1, -2, 010] type: [DT_INT32, 3] } } },\n"
      "       < key: \"e\" value {} > ]\n"
      "attr { key: \"empty_list\" value { list: {} } }";
  Tensorflow__NodeDef *n = (Tensorflow__NodeDef *)parse_ok(&tensorflow__node_def__descriptor, text);
  str_eq(n->name, "a/b");
  str_eq(n->op, "MatMul");
  ck_assert_uint_eq(n->n_input, 4);
  str_eq(n->input[0], "x");
  str_eq(n->input[1], "y:1");
  str_eq(n->input[2], "^c");
  str_eq(n->input[3], "d");
  str_eq(n->device, "/cpu:0");
  ck_assert_uint_eq(n->n_attr, 6);
  str_eq(n->attr[0]->key, "T");
  ck_assert_int_eq(n->attr[0]->value->value_case, TENSORFLOW__ATTR_VALUE__VALUE_TYPE);
  ck_assert_int_eq(n->attr[0]->value->type, TENSORFLOW__DATA_TYPE__DT_FLOAT);
  str_eq(n->attr[1]->key, "transpose_a");
  ck_assert_int_eq(n->attr[1]->value->value_case, TENSORFLOW__ATTR_VALUE__VALUE_B);
  ck_assert_int_eq(n->attr[1]->value->b, 1);
  const Tensorflow__TensorShapeProto *sh = n->attr[2]->value->shape;
  ck_assert_int_eq(n->attr[2]->value->value_case, TENSORFLOW__ATTR_VALUE__VALUE_SHAPE);
  ck_assert_uint_eq(sh->n_dim, 2);
  ck_assert_int_eq(sh->dim[0]->size, -1);
  str_eq(sh->dim[0]->name, "");
  ck_assert_int_eq(sh->dim[1]->size, 16);
  str_eq(sh->dim[1]->name, "n");
  const Tensorflow__AttrValue__ListValue *l = n->attr[3]->value->list;
  str_eq(n->attr[3]->key, "l");
  ck_assert_uint_eq(l->n_i, 3);
  ck_assert_int_eq(l->i[0], 1);
  ck_assert_int_eq(l->i[1], -2);
  ck_assert_int_eq(l->i[2], 8); /* octal */
  ck_assert_uint_eq(l->n_type, 2);
  ck_assert_int_eq(l->type[0], TENSORFLOW__DATA_TYPE__DT_INT32);
  ck_assert_int_eq(l->type[1], 3); /* by number */
  str_eq(n->attr[4]->key, "e");
  ck_assert_ptr_nonnull(n->attr[4]->value);
  ck_assert_int_eq(n->attr[4]->value->value_case, TENSORFLOW__ATTR_VALUE__VALUE__NOT_SET);
  ck_assert_int_eq(n->attr[5]->value->value_case, TENSORFLOW__ATTR_VALUE__VALUE_LIST);
  ck_assert_uint_eq(n->attr[5]->value->list->n_i, 0);
  protobuf_c_message_free_unpacked(&n->base, NULL);
}
END_TEST

START_TEST(scalars) {
  const char *text =
      "dtype: 1 version_number: -2147483648\n"
      "float_val: [1.5, -2.5e3, 1e-2f, 3F, .5, inf, -inf, NaN, Infinity, -INFINITY, 7, 0x10, "
      "1E+2, 2.f, -0]\n"
      "double_val: 1e308 double_val: -0.0 double_val: 2.5E-3 double_val: 1e999 "
      "double_val: 0.1\n"
      "int_val: [2147483647, -0x80000000, 017, 0, -1]\n"
      "int64_val: [9223372036854775807, -9223372036854775808, 0x7fffffffffffffff]\n"
      "uint32_val: 4294967295 uint32_val: 0xFFFFFFFF\n"
      "uint64_val: [18446744073709551615, 0xffffffffffffffff, 0]\n"
      "bool_val: [true, false, True, False, t, f, 1, 0]\n"
      "string_val: \"a\\n\\t\\\\\\'\\\"\\r\\a\\b\\f\\v\\?\"\n"
      "string_val: 'sq\"x'\n"
      "string_val: \"\\101\\60\\0x\" \"\\x41\\x4a\\xff\"\n"
      "  'cat' # adjacent literals join, across lines and comments\n"
      "string_val: \"\"\n"
      "string_val: \"\\u00e9\\U0001F600\"\n"
      "tensor_content: \"\\000\\001\\377\"";
  Tensorflow__TensorProto *t =
      (Tensorflow__TensorProto *)parse_ok(&tensorflow__tensor_proto__descriptor, text);
  ck_assert_int_eq(t->dtype, TENSORFLOW__DATA_TYPE__DT_FLOAT);
  ck_assert_int_eq(t->version_number, INT32_MIN);
  const float fv[] = {1.5f, -2500.0f, 0.01f, 3.0f, 0.5f, INFINITY, -INFINITY, NAN, INFINITY,
                      -INFINITY, 7.0f, 16.0f, 100.0f, 2.0f, 0.0f};
  ck_assert_uint_eq(t->n_float_val, sizeof fv / sizeof fv[0]);
  for (size_t i = 0; i < t->n_float_val; i++) {
    if (isnan(fv[i])) ck_assert(isnan(t->float_val[i]));
    else ck_assert_msg(t->float_val[i] == fv[i], "float_val[%zu] = %g", i, t->float_val[i]);
  }
  ck_assert_uint_eq(t->n_double_val, 5);
  ck_assert(t->double_val[0] == 1e308);
  ck_assert(t->double_val[1] == 0.0 && signbit(t->double_val[1]));
  ck_assert(t->double_val[2] == 2.5e-3);
  ck_assert(isinf(t->double_val[3]) && t->double_val[3] > 0);
  ck_assert(t->double_val[4] == 0.1);
  const int32_t iv[] = {INT32_MAX, INT32_MIN, 15, 0, -1};
  ck_assert_uint_eq(t->n_int_val, 5);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(t->int_val[i], iv[i]);
  ck_assert_uint_eq(t->n_int64_val, 3);
  ck_assert(t->int64_val[0] == INT64_MAX);
  ck_assert(t->int64_val[1] == INT64_MIN);
  ck_assert(t->int64_val[2] == INT64_MAX);
  ck_assert_uint_eq(t->n_uint32_val, 2);
  ck_assert(t->uint32_val[0] == UINT32_MAX && t->uint32_val[1] == UINT32_MAX);
  ck_assert_uint_eq(t->n_uint64_val, 3);
  ck_assert(t->uint64_val[0] == UINT64_MAX && t->uint64_val[1] == UINT64_MAX);
  ck_assert(t->uint64_val[2] == 0);
  const int bv[] = {1, 0, 1, 0, 1, 0, 1, 0};
  ck_assert_uint_eq(t->n_bool_val, 8);
  for (int i = 0; i < 8; i++) ck_assert_int_eq(t->bool_val[i], bv[i]);
  ck_assert_uint_eq(t->n_string_val, 5);
  bytes_eq(t->string_val[0], "a\n\t\\'\"\r\a\b\f\v?", 12);
  bytes_eq(t->string_val[1], "sq\"x", 4);
  bytes_eq(t->string_val[2], "A0\0xAJ\xff" "cat", 10);
  bytes_eq(t->string_val[3], "", 0);
  bytes_eq(t->string_val[4], "\xc3\xa9\xf0\x9f\x98\x80", 6);
  bytes_eq(t->tensor_content, "\0\1\377", 3);
  protobuf_c_message_free_unpacked(&t->base, NULL);
}
END_TEST

START_TEST(oneofs_and_fixed32) {
  Tensorflow__AttrValue *a =
      (Tensorflow__AttrValue *)parse_ok(&tensorflow__attr_value__descriptor, "i: -5");
  ck_assert_int_eq(a->value_case, TENSORFLOW__ATTR_VALUE__VALUE_I);
  ck_assert_int_eq(a->i, -5);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  a = (Tensorflow__AttrValue *)parse_ok(&tensorflow__attr_value__descriptor, "placeholder: 'T'");
  ck_assert_int_eq(a->value_case, TENSORFLOW__ATTR_VALUE__VALUE_PLACEHOLDER);
  str_eq(a->placeholder, "T");
  protobuf_c_message_free_unpacked(&a->base, NULL);
  a = (Tensorflow__AttrValue *)parse_ok(&tensorflow__attr_value__descriptor, "s: \"\"");
  ck_assert_int_eq(a->value_case, TENSORFLOW__ATTR_VALUE__VALUE_S);
  ck_assert_uint_eq(a->s.len, 0);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  a = (Tensorflow__AttrValue *)parse_ok(&tensorflow__attr_value__descriptor,
                                        "f: -1.25e-3 ");
  ck_assert_int_eq(a->value_case, TENSORFLOW__ATTR_VALUE__VALUE_F);
  ck_assert(a->f == -1.25e-3f);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  a = (Tensorflow__AttrValue *)parse_ok(&tensorflow__attr_value__descriptor,
                                        "func { name: \"fn\" attr { key: 'k' value { b: f } } }");
  ck_assert_int_eq(a->value_case, TENSORFLOW__ATTR_VALUE__VALUE_FUNC);
  str_eq(a->func->name, "fn");
  ck_assert_uint_eq(a->func->n_attr, 1);
  ck_assert_int_eq(a->func->attr[0]->value->value_case, TENSORFLOW__ATTR_VALUE__VALUE_B);
  ck_assert_int_eq(a->func->attr[0]->value->b, 0);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  /* an int64 oneof member and a fixed32 */
  Tensorflow__BundleEntryProto *e = (Tensorflow__BundleEntryProto *)parse_ok(
      &tensorflow__bundle_entry_proto__descriptor,
      "dtype: DT_INT64 shape { unknown_rank: true } shard_id: 2 offset: 10 size: 20 "
      "crc32c: 4294967295 slices { extent { start: 3 length: 4 } extent { start: 1 } }");
  ck_assert_int_eq(e->dtype, TENSORFLOW__DATA_TYPE__DT_INT64);
  ck_assert_int_eq(e->shape->unknown_rank, 1);
  ck_assert_int_eq(e->shard_id, 2);
  ck_assert_int_eq(e->offset, 10);
  ck_assert_int_eq(e->size, 20);
  ck_assert(e->crc32c == UINT32_MAX);
  ck_assert_uint_eq(e->n_slices, 1);
  ck_assert_uint_eq(e->slices[0]->n_extent, 2);
  ck_assert_int_eq(e->slices[0]->extent[0]->start, 3);
  ck_assert_int_eq(e->slices[0]->extent[0]->has_length_case,
                   TENSORFLOW__TENSOR_SLICE_PROTO__EXTENT__HAS_LENGTH_LENGTH);
  ck_assert_int_eq(e->slices[0]->extent[0]->length, 4);
  ck_assert_int_eq(e->slices[0]->extent[1]->has_length_case,
                   TENSORFLOW__TENSOR_SLICE_PROTO__EXTENT__HAS_LENGTH__NOT_SET);
  protobuf_c_message_free_unpacked(&e->base, NULL);
  /* empty input, comments only, a byte order mark: the empty message */
  const char *empties[] = {"", "  \n\t# nothing\n", "\xef\xbb\xbf"};
  for (int i = 0; i < 3; i++) {
    Tensorflow__NodeDef *n =
        (Tensorflow__NodeDef *)parse_ok(&tensorflow__node_def__descriptor, empties[i]);
    str_eq(n->name, "");
    ck_assert_uint_eq(n->n_input + n->n_attr, 0);
    protobuf_c_message_free_unpacked(&n->base, NULL);
  }
}
END_TEST

START_TEST(expanded_any) {
  const char *text =
      "collection_def { key: \"saved_model_assets\" value { any_list { value {\n"
      "  [type.googleapis.com/tensorflow.AssetFileDef] { tensor_info { name: \"Const:0\" }\n"
      "    filename: \"foo.txt\" } }\n"
      "  value { type_url: \"x/y\" value: \"\\001\" }\n"
      "  value < [ type.googleapis.com/tensorflow.TensorInfo ]: < dtype: DT_FLOAT > > } } }";
  Tensorflow__MetaGraphDef *m =
      (Tensorflow__MetaGraphDef *)parse_ok(&tensorflow__meta_graph_def__descriptor, text);
  ck_assert_uint_eq(m->n_collection_def, 1);
  const Tensorflow__CollectionDef *c = m->collection_def[0]->value;
  ck_assert_int_eq(c->kind_case, TENSORFLOW__COLLECTION_DEF__KIND_ANY_LIST);
  ck_assert_uint_eq(c->any_list->n_value, 3);
  const Google__Protobuf__Any *a = c->any_list->value[0];
  str_eq(a->type_url, "type.googleapis.com/tensorflow.AssetFileDef");
  Tensorflow__AssetFileDef *af =
      tensorflow__asset_file_def__unpack(NULL, a->value.len, a->value.data);
  ck_assert_ptr_nonnull(af);
  str_eq(af->filename, "foo.txt");
  str_eq(af->tensor_info->name, "Const:0");
  tensorflow__asset_file_def__free_unpacked(af, NULL);
  str_eq(c->any_list->value[1]->type_url, "x/y");
  bytes_eq(c->any_list->value[1]->value, "\001", 1);
  a = c->any_list->value[2];
  str_eq(a->type_url, "type.googleapis.com/tensorflow.TensorInfo");
  bytes_eq(a->value, "\x10\x01", 2); /* dtype (field 2, varint) = 1 */
  protobuf_c_message_free_unpacked(&m->base, NULL);
  /* errors */
  deft_status *st = deft_status_new();
  const char *bad[] = {
      "collection_def { value { any_list { value { [type.googleapis.com/tensorflow.Nope] {} "
      "} } } }",
      "collection_def { value { any_list { value { "
      "[type.googleapis.com/tensorflow.AssetFileDef] {} "
      "type_url: \"x\" } } } }",
      "collection_def { value { any_list { value { type_url: \"x\" "
      "[type.googleapis.com/tensorflow.AssetFileDef] {} } } } }",
      "collection_def { value { any_list { value { "
      "[type.googleapis.com/tensorflow.AssetFileDef {} } } } }",
      "collection_def { value { any_list { value { [] {} } } } }",
      "collection_def { value { any_list { value { [type.googleapis.com/tensorflow.AssetFileDef] "
      "{ filename: 1 } } } } }"};
  const deft_code codes[] = {DEFT_UNIMPLEMENTED, DEFT_DATA_LOSS, DEFT_DATA_LOSS, DEFT_DATA_LOSS,
                             DEFT_DATA_LOSS, DEFT_DATA_LOSS};
  const char *words[] = {"a:1:46: expanded Any value of type 'tensorflow.Nope'", "given twice",
                         "given twice", "expected ']'", "expected a type URL", "'filename'"};
  for (int i = 0; i < 6; i++) {
    ck_assert_ptr_null(deft_pb_text_parse(&tensorflow__meta_graph_def__descriptor, bad[i],
                                          strlen(bad[i]), "a", st));
    TU_ASSERT_STATUS(st, codes[i], words[i]);
  }
  deft_status_free(st);
}
END_TEST

/* A hand-made descriptor (what protoc-c would generate for a proto2 message) for the scalar
 * kinds deft's protos lack: sint32/64, sfixed32/64, fixed64, optional fields with has_ flags
 * and a string default, a repeated sint64. */
typedef struct toy {
  ProtobufCMessage base;
  int32_t s32;
  int64_t s64;
  int32_t sf32;
  int64_t sf64;
  uint64_t f64;
  protobuf_c_boolean has_o32;
  int32_t o32;
  char *ostr;
  size_t n_rs64;
  int64_t *rs64;
  protobuf_c_boolean has_od;
  double od;
} toy;

static char toy_default_str[] = "dflt";
static const ProtobufCFieldDescriptor toy_fields[] = {
    {"s32", 1, PROTOBUF_C_LABEL_REQUIRED, PROTOBUF_C_TYPE_SINT32, 0, offsetof(toy, s32), NULL,
     NULL, 0, 0, NULL, NULL},
    {"s64", 2, PROTOBUF_C_LABEL_REQUIRED, PROTOBUF_C_TYPE_SINT64, 0, offsetof(toy, s64), NULL,
     NULL, 0, 0, NULL, NULL},
    {"sf32", 3, PROTOBUF_C_LABEL_REQUIRED, PROTOBUF_C_TYPE_SFIXED32, 0, offsetof(toy, sf32), NULL,
     NULL, 0, 0, NULL, NULL},
    {"sf64", 4, PROTOBUF_C_LABEL_REQUIRED, PROTOBUF_C_TYPE_SFIXED64, 0, offsetof(toy, sf64), NULL,
     NULL, 0, 0, NULL, NULL},
    {"f64", 5, PROTOBUF_C_LABEL_REQUIRED, PROTOBUF_C_TYPE_FIXED64, 0, offsetof(toy, f64), NULL,
     NULL, 0, 0, NULL, NULL},
    {"o32", 6, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_INT32, offsetof(toy, has_o32),
     offsetof(toy, o32), NULL, NULL, 0, 0, NULL, NULL},
    {"ostr", 7, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_STRING, 0, offsetof(toy, ostr), NULL,
     toy_default_str, 0, 0, NULL, NULL},
    {"rs64", 8, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_SINT64, offsetof(toy, n_rs64),
     offsetof(toy, rs64), NULL, NULL, 0, 0, NULL, NULL},
    {"od", 9, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_DOUBLE, offsetof(toy, has_od),
     offsetof(toy, od), NULL, NULL, 0, 0, NULL, NULL},
};
/* indices of toy_fields sorted by name: f64 o32 od ostr rs64 s32 s64 sf32 sf64 */
static const unsigned toy_by_name[] = {4, 5, 8, 6, 7, 0, 1, 2, 3};
static const ProtobufCIntRange toy_ranges[] = {{1, 0}, {0, 9}};

static void toy_init(ProtobufCMessage *m);
static const ProtobufCMessageDescriptor toy_descriptor = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "test.Toy", "Toy", "Toy", "test", sizeof(toy), 9,
    toy_fields, toy_by_name, 1, toy_ranges, toy_init, NULL, NULL, NULL};

static void toy_init(ProtobufCMessage *m) {
  toy *t = (toy *)m;
  memset(t, 0, sizeof *t);
  t->base.descriptor = &toy_descriptor;
  t->ostr = toy_default_str;
}

START_TEST(other_scalar_kinds) {
  toy *t = (toy *)parse_ok(&toy_descriptor,
                           "s32: -2147483648 s64: -9223372036854775808 sf32: 2147483647 "
                           "sf64: -1 f64: 18446744073709551615 rs64: [-1, 2] rs64: -3 "
                           "o32: 0 od: -inf");
  ck_assert_int_eq(t->s32, INT32_MIN);
  ck_assert(t->s64 == INT64_MIN);
  ck_assert_int_eq(t->sf32, INT32_MAX);
  ck_assert(t->sf64 == -1);
  ck_assert(t->f64 == UINT64_MAX);
  ck_assert_uint_eq(t->n_rs64, 3);
  ck_assert(t->rs64[0] == -1 && t->rs64[1] == 2 && t->rs64[2] == -3);
  ck_assert_int_eq(t->has_o32, 1); /* given (even as 0): has_ is set */
  ck_assert_int_eq(t->o32, 0);
  ck_assert_int_eq(t->has_od, 1);
  ck_assert(isinf(t->od) && t->od < 0);
  ck_assert_ptr_eq(t->ostr, toy_default_str); /* not given: the default stays, not freed */
  protobuf_c_message_free_unpacked(&t->base, NULL);
  t = (toy *)parse_ok(&toy_descriptor, "ostr: \"set\"");
  str_eq(t->ostr, "set");
  ck_assert_int_eq(t->has_o32, 0);
  ck_assert_int_eq(t->has_od, 0);
  protobuf_c_message_free_unpacked(&t->base, NULL);
  /* the range limits of the 32-bit signed kinds */
  deft_status *st = deft_status_new();
  const char *bad[] = {"s32: 2147483648", "sf32: -2147483649", "f64: -1",
                       "s64: 9223372036854775808", "f64: 18446744073709551616"};
  for (int i = 0; i < 5; i++) {
    ck_assert_ptr_null(deft_pb_text_parse(&toy_descriptor, bad[i], strlen(bad[i]), "toy", st));
    TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "toy:1:", "out of range");
  }
  deft_status_free(st);
}
END_TEST

/* ---- errors ---- */

typedef struct err_case {
  const ProtobufCMessageDescriptor *d;
  const char *text;
  deft_code code;
  const char *k1, *k2, *k3;
} err_case;

START_TEST(errors_name_line_and_column) {
  const ProtobufCMessageDescriptor *N = &tensorflow__node_def__descriptor;
  const ProtobufCMessageDescriptor *T = &tensorflow__tensor_proto__descriptor;
  const ProtobufCMessageDescriptor *A = &tensorflow__attr_value__descriptor;
  const err_case cases[] = {
      /* unknown fields are skipped, but their values must be well formed */
      {N, "name: \"a\"\n  foo: }", DEFT_DATA_LOSS, "e.pbtxt:2:8:",
       "expected a value for unknown field 'foo'", NULL},
      {N, "attr { key: \"a\" valu { x: 1 ", DEFT_DATA_LOSS, "e.pbtxt:1:22:",
       "unknown field 'valu'", "not closed"},
      {N, "foo 1", DEFT_DATA_LOSS, "e.pbtxt:1:5:", "expected ':' after unknown field 'foo'", NULL},
      {N, "foo: [1 2]", DEFT_DATA_LOSS, "e.pbtxt:1:9:", "expected ',' or ']'", "'foo'"},
      {N, "foo: 'abc", DEFT_DATA_LOSS, "e.pbtxt:1:6:", "unterminated string", NULL},
      {N, "foo { [x.y }", DEFT_DATA_LOSS, "e.pbtxt:1:7:", "unterminated '['", NULL},
      {N, "foo { 5 }", DEFT_DATA_LOSS, "e.pbtxt:1:7:", "expected a field name or '}'", "'foo'"},
      {N, "name: }", DEFT_DATA_LOSS, "e.pbtxt:1:7:", "expected a value", "'name'"},
      {N, "name:", DEFT_DATA_LOSS, "e.pbtxt:1:6:", "unexpected end of input", "'name'"},
      {N, "op: 5", DEFT_DATA_LOSS, "e.pbtxt:1:5:", "expected a value (a quoted string)", "'op'"},
      {N, "name: \"abc\n\"", DEFT_DATA_LOSS, "e.pbtxt:1:7:", "unterminated string", NULL},
      {N, "input: \"a\" 'b", DEFT_DATA_LOSS, "e.pbtxt:1:12:", "unterminated string", NULL},
      {N, "name: \"a\\", DEFT_DATA_LOSS, "e.pbtxt:1:9:", "unterminated string", NULL},
      {T, "version_number: 2147483648", DEFT_DATA_LOSS, "e.pbtxt:1:17:", "out of range",
       "int32"},
      {T, "int_val: [1,\n -2147483649]", DEFT_DATA_LOSS, "e.pbtxt:2:2:", "out of range", "int32"},
      {T, "uint32_val: -1", DEFT_DATA_LOSS, "e.pbtxt:1:13:", "out of range", "uint32"},
      {T, "int64_val: 99999999999999999999", DEFT_DATA_LOSS, "e.pbtxt:1:12:", "out of range",
       "int64"},
      {T, "int_val: 1.5", DEFT_DATA_LOSS, "e.pbtxt:1:10:", "expected an integer", "'int_val'"},
      {T, "int_val: 09", DEFT_DATA_LOSS, "e.pbtxt:1:10:", "expected an integer", NULL},
      {T, "float_val: 1.2.3", DEFT_DATA_LOSS, "e.pbtxt:1:12:", "expected a number", NULL},
      {T, "float_val: 1e", DEFT_DATA_LOSS, "e.pbtxt:1:12:", "expected a number", NULL},
      {T, "float_val: \"1\"", DEFT_DATA_LOSS, "e.pbtxt:1:12:", "found a string", NULL},
      {T, "bool_val: yes", DEFT_DATA_LOSS, "e.pbtxt:1:11:", "expected true or false", NULL},
      {T, "bool_val: 2", DEFT_DATA_LOSS, "e.pbtxt:1:11:", "expected true or false", NULL},
      {T, "float_val: [1, 2", DEFT_DATA_LOSS, "e.pbtxt:1:12:", "unexpected end of input",
       "not closed"},
      {T, "float_val: [1 2]", DEFT_DATA_LOSS, "e.pbtxt:1:15:", "expected ',' or ']'", NULL},
      {A, "type: DT_NOPE", DEFT_DATA_LOSS, "e.pbtxt:1:7:", "unknown enum value 'DT_NOPE'",
       "tensorflow.DataType"},
      {A, "type: 2147483648", DEFT_DATA_LOSS, "e.pbtxt:1:7:", "out of range", NULL},
      {N, "name: \"a\" name: \"b\"", DEFT_DATA_LOSS, "e.pbtxt:1:11:", "non-repeated field 'name'",
       "given twice"},
      {A, "shape {} shape {}", DEFT_DATA_LOSS, "e.pbtxt:1:10:", "given twice", NULL},
      {A, "i: 1\nf: 2", DEFT_DATA_LOSS, "e.pbtxt:2:1:", "oneof", "'i'"},
      {A, "list {} s: 'x'", DEFT_DATA_LOSS, "e.pbtxt:1:9:", "oneof", "'list'"},
      {N, "attr { key: \"T\"", DEFT_DATA_LOSS, "e.pbtxt:1:16:", "unexpected end of input",
       "opened at 1:6"},
      {N, "attr { key: \"T\" }}", DEFT_DATA_LOSS, "e.pbtxt:1:18:", "expected a field name",
       "'}'"},
      {N, "attr < key: \"T\" }", DEFT_DATA_LOSS, "e.pbtxt:1:17:", "expected a field name",
       "or '>'"},
      {N, "attr: 5", DEFT_DATA_LOSS, "e.pbtxt:1:7:", "expected '{' or '<'", "'attr'"},
      {N, "attr", DEFT_DATA_LOSS, "e.pbtxt:1:5:", "unexpected end of input", "'attr'"},
      {N, "name \"a\"", DEFT_DATA_LOSS, "e.pbtxt:1:6:", "expected ':'", "'name'"},
      {N, "name: [\"a\"]", DEFT_DATA_LOSS, "e.pbtxt:1:7:", "not repeated", "list"},
      {N, "name: \"\\q\"", DEFT_DATA_LOSS, "e.pbtxt:1:8:", "invalid escape", "\\q"},
      {N, "name: \"\\x\"", DEFT_DATA_LOSS, "e.pbtxt:1:8:", "\\x escape", NULL},
      {N, "name: \"\\u12\"", DEFT_DATA_LOSS, "e.pbtxt:1:8:", "\\u escape", "4 hex digits"},
      {N, "name: \"\\777\"", DEFT_DATA_LOSS, "e.pbtxt:1:8:", "octal escape", NULL},
      {N, "name: \"a\"\n\001", DEFT_DATA_LOSS, "e.pbtxt:2:1:", "expected a field name",
       "byte 0x01"},
      {N, "9name: 1", DEFT_DATA_LOSS, "e.pbtxt:1:1:", "expected a field name", NULL},
      {N, "[type.googleapis.com/tensorflow.NodeDef] { }", DEFT_UNIMPLEMENTED, "e.pbtxt:1:1:",
       "extensions", "tensorflow.NodeDef"},
      {A, "list { [ext.field]: 1 }", DEFT_UNIMPLEMENTED, "e.pbtxt:1:8:", "extensions", NULL},
  };
  deft_status *st = deft_status_new();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const err_case *c = &cases[i];
    ProtobufCMessage *m = deft_pb_text_parse(c->d, c->text, strlen(c->text), "e.pbtxt", st);
    ck_assert_msg(m == NULL, "case %zu (%s) parsed", i, c->text);
    ck_assert_msg(deft_status_code(st) == c->code, "case %zu: %s", i, deft_status_message(st));
    const char *msg = deft_status_message(st);
    const char *k[3] = {c->k1, c->k2, c->k3};
    for (int j = 0; j < 3; j++)
      ck_assert_msg(!k[j] || strstr(msg, k[j]), "case %zu (%s): '%s' not in \"%s\"", i, c->text,
                    k[j], msg);
  }
  /* nesting deeper than the limit */
  size_t cap = 64 * 40 + 16;
  char *deep = malloc(cap);
  deep[0] = 0;
  for (int i = 0; i < 40; i++) strcat(deep, "func { attr { value { ");
  ck_assert_ptr_null(deft_pb_text_parse(A, deep, strlen(deep), "deep", st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "nested more than 100 deep");
  free(deep);
  /* a NULL path: "<text>" */
  ck_assert_ptr_null(deft_pb_text_parse(N, "x: }", 4, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "<text>:1:4:");
  /* text may hold NUL bytes: len counts, not strlen */
  ck_assert_ptr_null(deft_pb_text_parse(N, "name: \"a\"\0", 10, "nul", st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "nul:1:10:", "byte 0x00");
  deft_status_free(st);
}
END_TEST

/* ---- robustness: every prefix, every failed allocation, random damage ---- */

static const char robust_text[] =
    "name: \"n\" op: 'Const' input: [\"a\", \"b:1\"] input: \"^c\" device: \"/cpu:0\"\n"
    "attr { key: \"value\" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 2 } }\n"
    "  float_val: [1.5, -inf, nan] tensor_content: \"\\001\\x02\\n\" string_val: 'a' \"b\" } } }\n"
    "attr < key: \"list\" value: < list { i: [1, 0x2, -03] s: [\"x\", \"y\"] type: DT_INT32\n"
    "  shape { dim { size: -1 } unknown_rank: false } b: [true, f] } > >\n"
    "attr { key: \"f\" value { func { name: \"fn\"\n"
    "  attr { key: \"k\" value { placeholder: \"T\" } } } } }\n"
    "# done\n";

START_TEST(every_prefix_fails_cleanly) {
  size_t n = strlen(robust_text);
  deft_status *st = deft_status_new();
  Tensorflow__NodeDef *full = (Tensorflow__NodeDef *)deft_pb_text_parse(
      &tensorflow__node_def__descriptor, robust_text, n, "r", st);
  ck_assert_msg(full != NULL, "%s", deft_status_message(st));
  ck_assert_uint_eq(full->n_attr, 3);
  protobuf_c_message_free_unpacked(&full->base, NULL);
  int parsed = 0;
  for (size_t len = 0; len < n; len++) {
    /* a copy of exactly len bytes, so ASan sees any read past the end */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, robust_text, len);
    ProtobufCMessage *m =
        deft_pb_text_parse(&tensorflow__node_def__descriptor, copy, len, "r", st);
    if (m) {
      parsed++;
      protobuf_c_message_free_unpacked(m, NULL);
    } else {
      ck_assert_msg(deft_status_code(st) == DEFT_DATA_LOSS, "prefix %zu: %s", len,
                    deft_status_message(st));
      ck_assert_msg(strstr(deft_status_message(st), "r:") == deft_status_message(st),
                    "prefix %zu: %s", len, deft_status_message(st));
    }
    free(copy);
  }
  ck_assert_int_gt(parsed, 0); /* e.g. the empty prefix and the ends of top-level fields */
  deft_status_free(st);
}
END_TEST

START_TEST(every_failed_allocation_fails_cleanly) {
  size_t n = strlen(robust_text);
  deft_status *st = deft_status_new();
  int fails = 0;
  for (long k = 0;; k++) {
    deft_alloc_fail_after(k);
    ProtobufCMessage *m =
        deft_pb_text_parse(&tensorflow__node_def__descriptor, robust_text, n, "r", st);
    deft_alloc_fail_after(-1);
    if (m) {
      protobuf_c_message_free_unpacked(m, NULL);
      break;
    }
    TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    fails++;
    ck_assert_int_lt(k, 100000);
  }
  ck_assert_int_gt(fails, 30);
  deft_status_free(st);
}
END_TEST

START_TEST(random_damage_fails_cleanly) {
  size_t n = strlen(robust_text);
  char *copy = malloc(n);
  unsigned seed = 12345;
  const char alphabet[] = "{}<>[]:;,\"'\\#\n -0x1.eE9fabT_";
  deft_status *st = deft_status_new();
  for (int it = 0; it < 3000; it++) {
    memcpy(copy, robust_text, n);
    int edits = 1 + it % 4;
    for (int e = 0; e < edits; e++) {
      seed = seed * 1103515245u + 12345u;
      size_t at = (seed >> 8) % n;
      seed = seed * 1103515245u + 12345u;
      copy[at] = (seed >> 16) % 5 == 0 ? (char)((seed >> 8) & 0xff)
                                         : alphabet[(seed >> 8) % (sizeof alphabet - 1)];
    }
    ProtobufCMessage *m =
        deft_pb_text_parse(&tensorflow__node_def__descriptor, copy, n, "r", st);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    else ck_assert_msg(deft_status_code(st) == DEFT_DATA_LOSS ||
                           deft_status_code(st) == DEFT_UNIMPLEMENTED, "%s",
                       deft_status_message(st));
  }
  free(copy);
  deft_status_free(st);
}
END_TEST

/* ---- Google's implementation as the reference ---- */

/* Python prologue: protoc --python_out on deft's protos into argv[1]/py. */
#define PY_PROLOGUE                                                                          \
  "import sys, os, glob, subprocess\n"                                                       \
  "out = sys.argv[1]\n"                                                                      \
  "gen = os.path.join(out, 'py')\n"                                                          \
  "os.makedirs(gen, exist_ok=True)\n"                                                        \
  "protos = sorted(glob.glob('" DEFT_SOURCE_DIR "/proto/*.proto'))\n"                       \
  "subprocess.check_call(['protoc', '--proto_path=" DEFT_SOURCE_DIR                          \
  "/proto', '--python_out=' + gen] + protos)\n"                                              \
  "sys.path.insert(0, gen)\n"                                                                \
  "from google.protobuf import text_format\n"                                                \
  "import graph_pb2, meta_graph_pb2, saved_model_pb2, node_def_pb2, attr_value_pb2\n"        \
  "import tensor_pb2, tensor_bundle_pb2, types_pb2\n"                                        \
  "KINDS = {'GraphDef': graph_pb2.GraphDef, 'MetaGraphDef': meta_graph_pb2.MetaGraphDef,\n"  \
  "         'SavedModel': saved_model_pb2.SavedModel, 'NodeDef': node_def_pb2.NodeDef,\n"   \
  "         'BundleEntryProto': tensor_bundle_pb2.BundleEntryProto}\n"                       \
  "STYLES = [dict(), dict(as_one_line=True), dict(use_short_repeated_primitives=True,\n"         \
  "          as_utf8=True),\n"                                                                \
  "          dict(pointy_brackets=True, use_index_order=True, force_colon=True)]\n"          \
  "def write(kind, m, name):\n"                                                              \
  "    ref = m.SerializeToString(deterministic=True)\n"                                      \
  "    open(os.path.join(out, name + '.bin'), 'wb').write(ref)\n"                           \
  "    for i, s in enumerate(STYLES):\n"                                                     \
  "        txt = text_format.MessageToString(m, **s)\n"                                      \
  "        open(os.path.join(out, '%s.%d.pbtxt' % (name, i)), 'w').write(txt)\n"             \
  "        back = KINDS[kind]()\n"                                                           \
  "        text_format.Parse(txt, back)\n"                                                   \
  "        assert back.SerializeToString(deterministic=True) == ref, s\n"

#define NSTYLES 4

static void run_python(const char *script, const char *const *args) {
  ck_assert_msg(tu_python(script, args) == 0,
                "python3 with google.protobuf and protoc failed (tools/install-deps.sh installs "
                "python3-protobuf and protobuf-compiler)");
}

static uint8_t *read_all(const char *path, size_t *len) {
  uint8_t *data = NULL;
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_read_file(path, &data, len, st), "%s", deft_status_message(st));
  deft_status_free(st);
  return data;
}

/* deft's parse of path (text of message type d), packed by protobuf-c, must equal ref_path's
 * bytes (Google's deterministic serialization). */
static void check_packs_to(const ProtobufCMessageDescriptor *d, const char *path,
                           const char *ref_path) {
  size_t tlen, rlen;
  uint8_t *text = read_all(path, &tlen);
  uint8_t *ref = read_all(ref_path, &rlen);
  deft_status *st = deft_status_new();
  ProtobufCMessage *m = deft_pb_text_parse(d, (const char *)text, tlen, path, st);
  ck_assert_msg(m != NULL, "%s", deft_status_message(st));
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *packed = malloc(n ? n : 1);
  protobuf_c_message_pack(m, packed);
  size_t first = 0;
  while (first < n && first < rlen && packed[first] == ref[first]) first++;
  ck_assert_msg(n == rlen && first == n, "%s: deft packs %zu bytes, Google %zu; first difference "
                "at byte %zu", path, n, rlen, first);
  free(packed);
  protobuf_c_message_free_unpacked(m, NULL);
  deft_status_free(st);
  deft_free(text);
  deft_free(ref);
}

START_TEST(google_writes_tricky_values) {
  char out[512];
  snprintf(out, sizeof out, "%s/tricky", tu_tmpdir());
  const char *script =
      PY_PROLOGUE
      "t = tensor_pb2.TensorProto()\n"
      "t.dtype = types_pb2.DT_FLOAT\n"
      "t.version_number = -2**31\n"
      "t.tensor_content = bytes(range(256))\n"
      "t.float_val.extend([float('inf'), float('-inf'), float('nan'), 1e-45,\n"
      "                    3.4028234663852886e38,\n"
      "                    -0.0, 0.1, 1.0, 123456789.0, 1.17549435e-38, -2.5e-7, 16777217.0])\n"
      "t.double_val.extend([5e-324, 1.7976931348623157e308, -0.0, 0.1, float('inf'),\n"
      "                     float('-inf'), float('nan'), 2.0**53 + 2, 1/3.0, -1e-300])\n"
      "t.int_val.extend([-2**31, 2**31 - 1, 0, -1])\n"
      "t.int64_val.extend([-2**63, 2**63 - 1, 0x123456789, -1])\n"
      "t.uint32_val.extend([0, 2**32 - 1])\n"
      "t.uint64_val.extend([2**64 - 1, 2**63])\n"
      "t.bool_val.extend([True, False, True])\n"
      "t.half_val.extend([0, 65535])\n"
      "t.string_val.extend([b'', b'\\x00\\x01\\xff\\x7f', 'h\\u00e9llo \\u2713'.encode(),\n"
      "                     b'q \" and \\' and \\\\ and \\n\\t\\r\\x07\\x08\\x0c\\x0b ?',\n"
      "                     b'#no comment'])\n"
      "d = t.tensor_shape.dim.add(); d.size = -1; d.name = 'batch \\u00fc'\n"
      "t.tensor_shape.dim.add().size = 2**40\n"
      "h = t.resource_handle_val.add(); h.device = '/cpu:0'; h.hash_code = 2**64 - 1\n"
      "n = node_def_pb2.NodeDef(name='n/a', op='Const', input=['x:1', '^y'], device='/gpu:0')\n"
      "n.attr['value'].tensor.CopyFrom(t)\n"
      "n.attr['T'].type = types_pb2.DT_DOUBLE\n"
      "n.attr['f'].f = -1.5e-10\n"
      "n.attr['nan'].f = float('nan')\n"
      "n.attr['s'].s = '\\u2603 \"snow\"'.encode()\n"
      "n.attr['b'].b = True\n"
      "n.attr['i'].i = -2**63\n"
      "n.attr['ph'].placeholder = 'T'\n"
      "n.attr['empty'].list.SetInParent()\n"
      "l = n.attr['list'].list\n"
      "l.i.extend([1, -1]); l.f.extend([0.5, float('inf')]); l.b.extend([True, False])\n"
      "l.type.extend([types_pb2.DT_INT32, types_pb2.DT_STRING]); l.s.extend([b'a', b'\\xfe'])\n"
      "l.shape.add().unknown_rank = True\n"
      "fn = n.attr['fn'].func; fn.name = 'fn'; fn.attr['k'].i = 3\n"
      "fn.attr['j'].shape.SetInParent()\n"
      "write('NodeDef', n, 'node')\n"
      "e = tensor_bundle_pb2.BundleEntryProto(dtype=types_pb2.DT_INT64, shard_id=7, offset=2**40,\n"
      "                                       size=5, crc32c=2**32 - 1)\n"
      "x = e.slices.add().extent.add(); x.start = 3; x.length = 0\n"
      "e.slices[0].extent.add().start = 1\n"
      "write('BundleEntryProto', e, 'bundle')\n";
  mkdir(out, 0755);
  const char *args[] = {out, NULL};
  run_python(script, args);
  char path[700], ref[700];
  snprintf(ref, sizeof ref, "%s/node.bin", out);
  for (int s = 0; s < NSTYLES; s++) {
    snprintf(path, sizeof path, "%s/node.%d.pbtxt", out, s);
    check_packs_to(&tensorflow__node_def__descriptor, path, ref);
  }
  snprintf(ref, sizeof ref, "%s/bundle.bin", out);
  for (int s = 0; s < NSTYLES; s++) {
    snprintf(path, sizeof path, "%s/bundle.%d.pbtxt", out, s);
    check_packs_to(&tensorflow__bundle_entry_proto__descriptor, path, ref);
  }
  /* and a few values read back field by field */
  size_t len;
  snprintf(path, sizeof path, "%s/node.0.pbtxt", out);
  uint8_t *text = read_all(path, &len);
  Tensorflow__NodeDef *n = (Tensorflow__NodeDef *)deft_pb_text_parse(
      &tensorflow__node_def__descriptor, (const char *)text, len, path, NULL);
  ck_assert_ptr_nonnull(n);
  const Tensorflow__TensorProto *t = NULL;
  for (size_t i = 0; i < n->n_attr; i++)
    if (!strcmp(n->attr[i]->key, "value")) t = n->attr[i]->value->tensor;
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(t->tensor_content.len, 256);
  for (int i = 0; i < 256; i++) ck_assert_int_eq(t->tensor_content.data[i], i);
  ck_assert(t->float_val[3] == 1e-45f && t->float_val[4] == 3.4028234663852886e38f);
  ck_assert(t->float_val[5] == 0.0f && signbit(t->float_val[5]));
  ck_assert(t->double_val[0] == 5e-324 && t->double_val[7] == 9007199254740994.0);
  ck_assert(t->uint64_val[0] == UINT64_MAX && t->int64_val[0] == INT64_MIN);
  bytes_eq(t->string_val[2], "h\xc3\xa9llo \xe2\x9c\x93", 10);
  protobuf_c_message_free_unpacked(&n->base, NULL);
  deft_free(text);
}
END_TEST

/* Python writes text for the real TF file src (message type kind) as dir/name.<style>.pbtxt and
 * its deterministic bytes as dir/name.bin. */
static void convert_real(const char *kind, const char *src, const char *dir, const char *name) {
  const char *script =
      PY_PROLOGUE
      "kind, src, name = sys.argv[2], sys.argv[3], sys.argv[4]\n"
      "m = KINDS[kind]()\n"
      "m.ParseFromString(open(src, 'rb').read())\n"
      "m = KINDS[kind].FromString(m.SerializeToString())\n"
      "m2 = KINDS[kind]()\n"
      "text_format.Parse(text_format.MessageToString(m), m2)\n" /* drops unknown fields */
      "write(kind, m2, name)\n";
  mkdir(dir, 0755);
  const char *args[] = {dir, kind, src, name, NULL};
  run_python(script, args);
}

static uint8_t *export_bytes(const deft_graph *g, const deft_meta_graph_info *info,
                             const char *path, size_t *len) {
  deft_status *st = deft_status_new();
  bool ok = info ? deft_export_meta_graph(g, path, info, st) : deft_export_graph_def(g, path, st);
  ck_assert_msg(ok, "%s", deft_status_message(st));
  deft_status_free(st);
  return read_all(path, len);
}

/* Imports the binary meta graph and its text forms; every text form must pack to Google's
 * bytes, and import to a graph that deft exports byte for byte like the binary's. */
static void check_meta_same(const char *rel, const char *name) {
  TU_REQUIRE_SHARED(meta, rel);
  char src[4096], dir[600], path[800], exp1[800], exp2[800];
  snprintf(src, sizeof src, "%s", meta);
  snprintf(dir, sizeof dir, "%s/%s", tu_tmpdir(), name);
  convert_real("MetaGraphDef", src, dir, name);
  deft_status *st = deft_status_new();
  deft_meta_graph_info *info1 = NULL, *info2 = NULL;
  deft_graph *g1 = deft_import_meta_graph(src, NULL, &info1, st);
  ck_assert_msg(g1 != NULL, "%s", deft_status_message(st));
  /* The export is compared with the import of Google's binary of the same message (the TF
   * file itself has its map entries in another order, which deft keeps). */
  snprintf(path, sizeof path, "%s/%s.bin", dir, name);
  deft_meta_graph_info *info1b = NULL;
  deft_graph *g1b = deft_import_meta_graph(path, NULL, &info1b, st);
  ck_assert_msg(g1b != NULL, "%s", deft_status_message(st));
  snprintf(exp1, sizeof exp1, "%s/from_binary.meta", dir);
  size_t n1, n2;
  uint8_t *b1 = export_bytes(g1b, info1b, exp1, &n1);
  deft_meta_graph_info_free(info1b);
  deft_graph_free(g1b);
  for (int s = 0; s < NSTYLES; s++) {
    char txt[800];
    snprintf(txt, sizeof txt, "%s/%s.%d.pbtxt", dir, name, s);
    check_packs_to(&tensorflow__meta_graph_def__descriptor, txt, path);
    deft_graph *g2 = deft_import_meta_graph(txt, NULL, &info2, st);
    ck_assert_msg(g2 != NULL, "%s", deft_status_message(st));
    ck_assert_int_eq(deft_graph_num_ops(g2), deft_graph_num_ops(g1));
    ck_assert_str_eq(deft_meta_graph_info_restore_op(info2),
                     deft_meta_graph_info_restore_op(info1));
    snprintf(exp2, sizeof exp2, "%s/from_text.meta", dir);
    uint8_t *b2 = export_bytes(g2, info2, exp2, &n2);
    ck_assert_msg(n1 == n2 && !memcmp(b1, b2, n1), "%s style %d: export differs", name, s);
    deft_free(b2);
    deft_meta_graph_info_free(info2);
    deft_graph_free(g2);
  }
  /* prefixes of the real text (a sample: the whole sweep is every_prefix_fails_cleanly's) */
  char txt[800];
  snprintf(txt, sizeof txt, "%s/%s.0.pbtxt", dir, name);
  size_t tlen;
  uint8_t *text = read_all(txt, &tlen);
  for (int k = 0; k < 150; k++) {
    size_t len = (size_t)((double)tlen * k / 150.0) + (size_t)k % 7;
    if (len >= tlen) break;
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    ProtobufCMessage *m =
        deft_pb_text_parse(&tensorflow__meta_graph_def__descriptor, copy, len, "p", st);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
    else ck_assert_msg(deft_status_code(st) == DEFT_DATA_LOSS, "%s", deft_status_message(st));
    free(copy);
  }
  deft_free(text);
  deft_free(b1);
  deft_meta_graph_info_free(info1);
  deft_graph_free(g1);
  deft_status_free(st);
}

START_TEST(real_meta_graphs_same_as_binary) {
  check_meta_same(HF "my_model_final.ckpt.meta", "haerfest");
  check_meta_same(KK "my_new_model_final.ckpt.meta", "kkeishiro");
  check_meta_same(TB "my_model_final.ckpt.meta", "tao_bai");
}
END_TEST

/* The text meta graph, restored from TF's checkpoint, computes the accuracy test_tf1 expects. */
START_TEST(text_meta_graph_runs) {
  TU_REQUIRE_SHARED(meta, HF "my_model_final.ckpt.meta");
  char src[4096], dir[600], txt[800], ckpt[4096], mnist[4096];
  snprintf(src, sizeof src, "%s", meta);
  TU_REQUIRE_SHARED(ck, HF "my_model_final.ckpt");
  snprintf(ckpt, sizeof ckpt, "%s", ck);
  TU_REQUIRE_SHARED(data, "data/mnist");
  snprintf(mnist, sizeof mnist, "%s", data);
  snprintf(dir, sizeof dir, "%s/hf_run", tu_tmpdir());
  convert_real("MetaGraphDef", src, dir, "m");
  snprintf(txt, sizeof txt, "%s/m.0.pbtxt", dir);
  deft_status *st = deft_status_new();
  deft_meta_graph_info *info = NULL;
  deft_graph *g = deft_import_meta_graph(txt, NULL, &info, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  ck_assert_ptr_nonnull(s);
  deft_saver *sv = deft_saver_from_names(g, deft_meta_graph_info_filename_tensor(info),
                                         deft_meta_graph_info_save_tensor(info),
                                         deft_meta_graph_info_restore_op(info), 0, st);
  ck_assert_msg(sv && deft_saver_restore(sv, s, ckpt, st), "%s", deft_status_message(st));
  deft_tensor *x = NULL, *y = NULL;
  ck_assert_msg(deft_mnist_load(mnist, false, NULL, NULL, &x, &y, st), "%s",
                deft_status_message(st));
  int64_t n = deft_tensor_num_elements(y);
  deft_tensor *yl = deft_tensor_new(DEFT_INT64, &n, 1, NULL);
  for (int64_t i = 0; i < n; i++)
    ((int64_t *)deft_tensor_data(yl))[i] = (int64_t)deft_tensor_get_double(y, i);
  deft_output feeds[2] = {deft_graph_tensor_by_name(g, "X:0", st),
                          deft_graph_tensor_by_name(g, "y:0", st)};
  deft_output acc = deft_graph_tensor_by_name(g, "eval/Mean:0", st);
  ck_assert_msg(feeds[0].op && feeds[1].op && acc.op, "%s", deft_status_message(st));
  deft_tensor *vals[2] = {x, yl}, *out = NULL;
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), 2, &acc, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  double a = deft_tensor_get_double(out, 0);
  ck_assert_msg(fabs(a - 0.9791) <= 0.0005, "accuracy %.4f, expected 0.9791", a);
  deft_tensor_free(out);
  deft_tensor_free(yl);
  deft_tensor_free(x);
  deft_tensor_free(y);
  deft_saver_free(sv);
  deft_session_free(s);
  deft_meta_graph_info_free(info);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* A frozen GraphDef (weights as tensor_content: every byte escaped) from text: the same export
 * and the same predictions as from binary. */
START_TEST(text_frozen_graph_same_as_binary) {
  TU_REQUIRE_SHARED(pb, MNIST_PB);
  char src[4096], dir[600], txt[800], e1[800], e2[800], ref[800];
  snprintf(src, sizeof src, "%s", pb);
  snprintf(dir, sizeof dir, "%s/frozen", tu_tmpdir());
  convert_real("GraphDef", src, dir, "g");
  snprintf(ref, sizeof ref, "%s/g.bin", dir);
  deft_status *st = deft_status_new();
  deft_graph *g1 = deft_import_graph_def(src, NULL, st);
  ck_assert_msg(g1 != NULL, "%s", deft_status_message(st));
  deft_graph *g1b = deft_import_graph_def(ref, NULL, st); /* Google's bytes of the same graph */
  ck_assert_msg(g1b != NULL, "%s", deft_status_message(st));
  snprintf(e1, sizeof e1, "%s/e1.pb", dir);
  size_t n1, n2;
  uint8_t *b1 = export_bytes(g1b, NULL, e1, &n1);
  deft_graph_free(g1b);
  /* an input batch: 10 rows of a ramp */
  int64_t dims[2] = {10, 784};
  deft_tensor *x = deft_tensor_new(DEFT_FLOAT, dims, 2, NULL);
  for (int i = 0; i < 7840; i++)
    ((float *)deft_tensor_data(x))[i] = (float)((i * 37) % 256) / 255.0f;
  deft_tensor *p1 = NULL;
  deft_session *s1 = deft_session_new(g1, st);
  deft_output X1 = deft_graph_tensor_by_name(g1, "x:0", st);
  deft_output P1 = deft_graph_tensor_by_name(g1, "y_pred:0", st);
  ck_assert(
      deft_session_run(s1, &X1, (const deft_tensor *const[]){x}, 1, &P1, &p1, 1, NULL, 0, st));
  for (int s = 0; s < NSTYLES; s++) {
    snprintf(txt, sizeof txt, "%s/g.%d.pbtxt", dir, s);
    check_packs_to(&tensorflow__graph_def__descriptor, txt, ref);
    deft_graph *g2 = deft_import_graph_def(txt, NULL, st);
    ck_assert_msg(g2 != NULL, "%s", deft_status_message(st));
    snprintf(e2, sizeof e2, "%s/e2.pb", dir);
    uint8_t *b2 = export_bytes(g2, NULL, e2, &n2);
    ck_assert_msg(n1 == n2 && !memcmp(b1, b2, n1), "style %d: export differs", s);
    deft_free(b2);
    deft_session *s2 = deft_session_new(g2, st);
    deft_output X2 = deft_graph_tensor_by_name(g2, "x:0", st);
    deft_output P2 = deft_graph_tensor_by_name(g2, "y_pred:0", st);
    deft_tensor *p2 = NULL;
    ck_assert(
        deft_session_run(s2, &X2, (const deft_tensor *const[]){x}, 1, &P2, &p2, 1, NULL, 0, st));
    for (int i = 0; i < 10; i++)
      ck_assert(deft_tensor_get_double(p1, i) == deft_tensor_get_double(p2, i));
    deft_tensor_free(p2);
    deft_session_free(s2);
    deft_graph_free(g2);
  }
  deft_tensor_free(p1);
  deft_tensor_free(x);
  deft_session_free(s1);
  deft_graph_free(g1);
  deft_free(b1);
  deft_status_free(st);
}
END_TEST

/* A SavedModel directory holding saved_model.pbtxt (no saved_model.pb) loads and computes TF's
 * y = 0.5 x + 2. */
START_TEST(text_saved_model_runs) {
  TU_REQUIRE_SHARED(sm, SERVING "saved_model_half_plus_two_cpu/00000123");
  char srcdir[4096], src[4200], dir[600], work[700], path[800], link[800], vars[4200];
  snprintf(srcdir, sizeof srcdir, "%s", sm);
  snprintf(src, sizeof src, "%s/saved_model.pb", srcdir);
  snprintf(dir, sizeof dir, "%s/sm", tu_tmpdir());
  convert_real("SavedModel", src, dir, "s");
  char txt[800], ref[800];
  snprintf(ref, sizeof ref, "%s/s.bin", dir);
  for (int s = 0; s < NSTYLES; s++) { /* an expanded Any (AssetFileDef) among the collections */
    snprintf(txt, sizeof txt, "%s/s.%d.pbtxt", dir, s);
    check_packs_to(&tensorflow__saved_model__descriptor, txt, ref);
  }
  snprintf(work, sizeof work, "%s/model", dir);
  mkdir(work, 0755);
  char from[800];
  snprintf(from, sizeof from, "%s/s.1.pbtxt", dir); /* the one-line style */
  snprintf(path, sizeof path, "%s/saved_model.pbtxt", work);
  ck_assert_int_eq(rename(from, path), 0);
  snprintf(vars, sizeof vars, "%s/variables", srcdir);
  snprintf(link, sizeof link, "%s/variables", work);
  ck_assert_int_eq(symlink(vars, link), 0);
  deft_status *st = deft_status_new();
  deft_meta_graph_info *info = NULL;
  deft_graph *g = deft_load_saved_model(work, "serve", &info, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  deft_saver *sv = deft_saver_from_names(g, deft_meta_graph_info_filename_tensor(info),
                                         deft_meta_graph_info_save_tensor(info),
                                         deft_meta_graph_info_restore_op(info), 0, st);
  snprintf(vars, sizeof vars, "%s/variables/variables", work);
  ck_assert_msg(sv && deft_saver_restore(sv, s, vars, st), "%s", deft_status_message(st));
  const char *in = deft_meta_graph_info_signature_input(info, "serving_default", "x", NULL, st);
  const char *outn = deft_meta_graph_info_signature_output(info, "serving_default", "y", NULL, st);
  ck_assert_msg(in && outn, "%s", deft_status_message(st));
  deft_output X = deft_graph_tensor_by_name(g, in, st), Y = deft_graph_tensor_by_name(g, outn, st);
  ck_assert_msg(X.op && Y.op, "%s", deft_status_message(st));
  float xv[3] = {1, 2, 5};
  int64_t dims[2] = {3, 1};
  deft_shape xs = deft_output_shape(X);
  deft_tensor *x = deft_tensor_from_data(DEFT_FLOAT, dims, xs.rank == 2 ? 2 : 1, xv, sizeof xv, st);
  deft_tensor *y = NULL;
  ck_assert_msg(deft_session_run(s, &X, (const deft_tensor *const[]){x}, 1, &Y, &y, 1, NULL, 0, st),
                "%s", deft_status_message(st));
  const double want[3] = {2.5, 3.0, 4.5};
  for (int i = 0; i < 3; i++) ck_assert(fabs(deft_tensor_get_double(y, i) - want[i]) < 1e-6);
  deft_tensor_free(x);
  deft_tensor_free(y);
  deft_saver_free(sv);
  deft_session_free(s);
  deft_meta_graph_info_free(info);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* ---- the importers on hand-written text files ---- */

static const char *write_text(const char *name, const char *text) {
  static char path[600];
  snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_write_file_atomic(path, text, strlen(text), st), "%s",
                deft_status_message(st));
  deft_status_free(st);
  return path;
}

static const char square_graph[] =
    "node {\n"
    "  name: \"c\" op: \"Const\"\n"
    "  attr { key: \"dtype\" value { type: DT_FLOAT } }\n"
    "  attr { key: \"value\" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 2 } }\n"
    "    float_val: [1.5, -2] } } }\n"
    "}\n"
    "node { name: \"sq\" op: \"Mul\" input: [\"c\", \"c:0\"]\n"
    "  attr { key: \"T\" value { type: DT_FLOAT } } }\n"
    "versions { producer: 26 }\n";

static void check_square(deft_graph *g) {
  deft_status *st = deft_status_new();
  ck_assert_int_eq(deft_graph_num_ops(g), 2);
  deft_session *s = deft_session_new(g, st);
  deft_output sq = deft_graph_tensor_by_name(g, "sq:0", st);
  ck_assert_msg(sq.op, "%s", deft_status_message(st));
  deft_tensor *out = NULL;
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &sq, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  ck_assert(deft_tensor_get_double(out, 0) == 2.25 && deft_tensor_get_double(out, 1) == 4.0);
  deft_tensor_free(out);
  deft_session_free(s);
  deft_status_free(st);
}

START_TEST(importers_read_text_files) {
  deft_status *st = deft_status_new();
  /* by suffix */
  deft_graph *g = deft_import_graph_def(write_text("sq.pbtxt", square_graph), NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  check_square(g);
  deft_graph_free(g);
  /* by content: a text file named .pb that does not parse as binary */
  g = deft_import_graph_def(write_text("sq_text.pb", square_graph), NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  check_square(g);
  deft_graph_free(g);
  /* a meta graph in text */
  char meta[4096];
  snprintf(meta, sizeof meta, "meta_info_def { tags: \"serve\" tensorflow_version: \"1.15.0\" }\n"
                              "graph_def { %s }\n", square_graph);
  deft_meta_graph_info *info = NULL;
  g = deft_import_meta_graph(write_text("sq.meta.pbtxt", meta), NULL, &info, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  check_square(g);
  ck_assert_str_eq(deft_meta_graph_info_tensorflow_version(info), "1.15.0");
  deft_meta_graph_info_free(info);
  deft_graph_free(g);
  /* errors name the file, line and column */
  const char *bad = write_text("bad.pbtxt", "node {\n  name: \"a\"\n  op \"NoOp\"\n}\n");
  ck_assert_ptr_null(deft_import_graph_def(bad, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "bad.pbtxt:3:6:", "expected ':'", "'op'", "GraphDef");
  bad = write_text("bad_text.pb", "node { name: \"a\" op: \"NoOp\" ");
  ck_assert_ptr_null(deft_import_graph_def(bad, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "bad_text.pb:1:29:", "unexpected end of input",
                   "nor as a text-format");
  /* a file that parses as text but is not a valid graph: the importer's own error */
  bad = write_text("cycle.pbtxt", "node { name: \"a\" op: \"Identity\" input: \"b\" }\n"
                                  "node { name: \"b\" op: \"Identity\" input: \"a\" }\n");
  ck_assert_ptr_null(deft_import_graph_def(bad, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "cycle.pbtxt", "cycle");
  /* a SavedModel whose text file is broken */
  char dir[600], file[700];
  snprintf(dir, sizeof dir, "%s/badmodel", tu_tmpdir());
  mkdir(dir, 0755);
  snprintf(file, sizeof file, "badmodel/saved_model.pbtxt");
  write_text(file, "meta_graphs { meta_info_def { tags: serve } }\n");
  ck_assert_ptr_null(deft_load_saved_model(dir, "serve", NULL, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "saved_model.pbtxt:1:37:", "expected a value");
  deft_status_free(st);
}
END_TEST

/* Every failed allocation while importing a text file fails cleanly (no leak, no crash). */
START_TEST(text_import_out_of_memory) {
  const char *path = write_text("oom.pbtxt", square_graph);
  char p[600];
  snprintf(p, sizeof p, "%s", path);
  deft_status *st = deft_status_new();
  int fails = 0;
  for (long k = 0;; k++) {
    deft_alloc_fail_after(k);
    deft_graph *g = deft_import_graph_def(p, NULL, st);
    deft_alloc_fail_after(-1);
    if (g) {
      check_square(g);
      deft_graph_free(g);
      break;
    }
    ck_assert_msg(deft_status_code(st) == DEFT_RESOURCE_EXHAUSTED, "k=%ld: %s", k,
                  deft_status_message(st));
    fails++;
    ck_assert_int_lt(k, 100000);
  }
  ck_assert_int_gt(fails, 10);
  /* the meta graph importer too: on success, nothing is missing */
  char meta[4096];
  snprintf(meta, sizeof meta, "graph_def { %s }\ncollection_def { key: \"train_op\" value { "
                              "node_list { value: \"sq\" } } }\n", square_graph);
  snprintf(p, sizeof p, "%s", write_text("oom_meta.pbtxt", meta));
  for (long k = 0;; k++) {
    deft_meta_graph_info *info = NULL;
    deft_alloc_fail_after(k);
    deft_graph *g = deft_import_meta_graph(p, NULL, &info, st);
    deft_alloc_fail_after(-1);
    if (g) {
      int nc = 0;
      ck_assert_str_eq(deft_graph_collection_kind(g, "train_op", &nc), "node_list");
      ck_assert_int_eq(nc, 1);
      check_square(g);
      deft_meta_graph_info_free(info);
      deft_graph_free(g);
      break;
    }
    ck_assert_msg(deft_status_code(st) == DEFT_RESOURCE_EXHAUSTED, "k=%ld: %s", k,
                  deft_status_message(st));
    ck_assert_int_lt(k, 100000);
  }
  deft_status_free(st);
}
END_TEST

/* `deft dump` reads text files through the same importers. */
START_TEST(dump_reads_text) {
  char meta[4096], cmd[2048], out[700];
  snprintf(meta, sizeof meta, "graph_def { %s }\ncollection_def { key: \"train_op\" value { "
                              "node_list { value: \"sq\" } } }\n", square_graph);
  const char *files[3][2] = {{"dump_graph.pbtxt", square_graph},
                             {"dump_meta.pbtxt", meta}, /* not a GraphDef: tried as a meta graph */
                             {"dump.meta.pbtxt", meta}};
  const char *want[3] = {"(GraphDef): 2 ops", "(MetaGraphDef): 2 ops", "(MetaGraphDef): 2 ops"};
  snprintf(out, sizeof out, "%s/dump.txt", tu_tmpdir());
  for (int i = 0; i < 3; i++) {
    const char *path = write_text(files[i][0], files[i][1]);
    snprintf(cmd, sizeof cmd, "%s/deft dump '%s' > '%s' 2>&1", DEFT_BINARY_DIR, path, out);
    ck_assert_int_eq(system(cmd), 0);
    size_t len;
    uint8_t *text = read_all(out, &len);
    ck_assert_msg(strstr((const char *)text, want[i]) && strstr((const char *)text, "Mul"), "%s",
                  (const char *)text);
    deft_free(text);
  }
  /* a broken text file: exit status 1 and the position */
  const char *bad = write_text("dump_bad.pbtxt", "node { name: 'a' op: \"NoOp\" bogus: }");
  snprintf(cmd, sizeof cmd, "%s/deft dump '%s' > '%s' 2>&1", DEFT_BINARY_DIR, bad, out);
  int rc = system(cmd);
  ck_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
  size_t len;
  uint8_t *text = read_all(out, &len);
  ck_assert_msg(strstr((const char *)text,
                       "dump_bad.pbtxt:1:36: expected a value for unknown field 'bogus'"),
                "%s",
                (const char *)text);
  deft_free(text);
}
END_TEST

/* Fields deft's schema does not have are skipped, as the binary reader skips unknown field
 * numbers (TF 2.x writes NodeDef.experimental_type and experimental_debug_info). */
START_TEST(unknown_fields_are_skipped) {
  const char *text =
      "name: \"a\"\n"
      "experimental_debug_info { original_node_names: \"x\" original_func_names: ['f', \"g\"] }\n"
      "op: \"Const\"\n"
      "experimental_type { type_id: TFT_PRODUCT\n"
      "  args { type_id: TFT_TENSOR args < type_id: 1 > } }\n"
      "future_scalar: -1.5e+3, future_enum: SOME_VALUE; future_str: 'a' \"b\"\n"
      "future_list: [1, -2, 'x', { k: [] }, < v: 0x1f >]\n"
      "future_msg: { [type.googleapis.com/x.Y] { z: 1 } inner { deeper: {} } }\n"
      "future_empty: []\n"
      "input: \"^b\"";
  Tensorflow__NodeDef *n = (Tensorflow__NodeDef *)parse_ok(&tensorflow__node_def__descriptor, text);
  str_eq(n->name, "a");
  str_eq(n->op, "Const");
  ck_assert_uint_eq(n->n_input, 1);
  str_eq(n->input[0], "^b");
  protobuf_c_message_free_unpacked(&n->base, NULL);
  /* the depth limit still holds inside unknown fields */
  char deep[4 * DEFT_PB_TEXT_MAX_DEPTH + 64];
  size_t k = 0;
  k += (size_t)snprintf(deep, sizeof deep, "foo {");
  for (int i = 0; i < DEFT_PB_TEXT_MAX_DEPTH; i++) deep[k++] = 'a', deep[k++] = '{';
  for (int i = 0; i < DEFT_PB_TEXT_MAX_DEPTH + 1; i++) deep[k++] = '}';
  deep[k] = 0;
  deft_status *st = deft_status_new();
  ck_assert_ptr_null(deft_pb_text_parse(&tensorflow__node_def__descriptor, deep, k, "d.pbtxt", st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "d.pbtxt:1:", "nested more than");
  /* a TF 2.x text GraphDef imports and runs */
  const char *tf2 = write_text(
      "tf2.pbtxt",
      "node { name: \"c\" op: \"Const\" attr { key: \"dtype\" value { type: DT_FLOAT } }\n"
      "  attr { key: \"value\" value { tensor { dtype: DT_FLOAT tensor_shape {}\n"
      "    float_val: 3 } } }\n"
      "  experimental_type { type_id: TFT_PRODUCT args { type_id: TFT_TENSOR } }\n"
      "  experimental_debug_info { original_node_names: \"c0\" } }\n"
      "node { name: \"sq\" op: \"Square\" input: \"c\"\n"
      "  attr { key: \"T\" value { type: DT_FLOAT } } }\n"
      "versions { producer: 1205 min_consumer: 12 }\n"
      "library {}\n");
  deft_graph *g = deft_import_graph_def(tf2, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_graph_num_ops(g), 2);
  deft_output sq = deft_graph_tensor_by_name(g, "sq:0", st);
  deft_session *sess = deft_session_new(g, st);
  deft_tensor *v = NULL;
  ck_assert(deft_session_run(sess, NULL, NULL, 0, &sq, &v, 1, NULL, 0, st));
  ck_assert(deft_tensor_get_double(v, 0) == 9.0);
  deft_tensor_free(v);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static Suite *make(void) {
  Suite *s = suite_create("text_format");
  TCase *g = tcase_create("grammar");
  tcase_add_test(g, node_def_grammar);
  tcase_add_test(g, scalars);
  tcase_add_test(g, oneofs_and_fixed32);
  tcase_add_test(g, expanded_any);
  tcase_add_test(g, other_scalar_kinds);
  tcase_add_test(g, errors_name_line_and_column);
  tcase_add_test(g, unknown_fields_are_skipped);
  suite_add_tcase(s, g);
  TCase *r = tcase_create("robustness");
  tcase_add_test(r, every_prefix_fails_cleanly);
  tcase_add_test(r, every_failed_allocation_fails_cleanly);
  tcase_add_test(r, random_damage_fails_cleanly);
  suite_add_tcase(s, r);
  TCase *ref = tcase_create("google_reference");
  tcase_set_timeout(ref, 300);
  tcase_add_test(ref, google_writes_tricky_values);
  tcase_add_test(ref, real_meta_graphs_same_as_binary);
  tcase_add_test(ref, text_meta_graph_runs);
  tcase_add_test(ref, text_frozen_graph_same_as_binary);
  tcase_add_test(ref, text_saved_model_runs);
  suite_add_tcase(s, ref);
  TCase *imp = tcase_create("importers");
  tcase_add_test(imp, importers_read_text_files);
  tcase_add_test(imp, text_import_out_of_memory);
  tcase_add_test(imp, dump_reads_text);
  suite_add_tcase(s, imp);
  return s;
}

int main(void) { return tu_run_suite(make()); }
