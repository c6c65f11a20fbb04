// GGUF reader and writer: round trips through our own writer, hand-made byte images for what the
// writer cannot produce (nested arrays, hostile counts), every-byte truncation, allocation failure
// injection, and the reader-callback and file paths. The peer checks (llama.cpp's and gguf-py's
// view of the same files) live in the Python scripts beside this file.
#include <doctest/doctest.h>

#include "ai.hpp"
#include "test_util.hpp"

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

std::vector<uint8_t> write_to_vector(const ai::gguf_writer& w) {
    uint64_t size = 0;
    REQUIRE(w.file_size(&size).ok());
    std::vector<uint8_t> out((size_t)size);
    size_t written = 0;
    const ai::status st = w.write_memory(out.data(), out.size(), &written);
    REQUIRE_MESSAGE(st.ok(), st.message);
    REQUIRE(written == size);
    return out;
}

// A little-endian byte image builder for files the writer will not make.
struct image {
    std::vector<uint8_t> b;
    image& u32(uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back((uint8_t)(v >> (8 * i))); return *this; }
    image& u64(uint64_t v) { for (int i = 0; i < 8; ++i) b.push_back((uint8_t)(v >> (8 * i))); return *this; }
    image& str(const std::string& s) { u64(s.size()); b.insert(b.end(), s.begin(), s.end()); return *this; }
    image& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        return u32(version).u64(n_tensors).u64(n_kv);
    }
};

using test_util::counting_alloc;

}  // namespace

TEST_CASE("writer and reader round-trip every value type") {
    ai::gguf_writer w;
    const float arr_f[3] = {1.5f, -2.0f, 3.25f};
    const int32_t arr_i[4] = {-1, 0, 7, 2147483647};
    const std::string_view strs[3] = {"<unk>", "", "h\xc3\xa9llo"};
    REQUIRE(w.set_string("general.architecture", "llama").ok());
    REQUIRE(w.set_u8("t.u8", 200).ok());
    REQUIRE(w.set_i8("t.i8", -100).ok());
    REQUIRE(w.set_u16("t.u16", 60000).ok());
    REQUIRE(w.set_i16("t.i16", -30000).ok());
    REQUIRE(w.set_u32("t.u32", 4000000000u).ok());
    REQUIRE(w.set_i32("t.i32", -2000000000).ok());
    REQUIRE(w.set_u64("t.u64", 18000000000000000000ull).ok());
    REQUIRE(w.set_i64("t.i64", -9000000000000000000ll).ok());
    REQUIRE(w.set_f32("t.f32", 0.1f).ok());
    REQUIRE(w.set_f64("t.f64", 0.1).ok());
    REQUIRE(w.set_bool("t.bool", true).ok());
    REQUIRE(w.set_array("t.arr_f32", ai::gguf_type::f32, arr_f, 3).ok());
    REQUIRE(w.set_array("t.arr_i32", ai::gguf_type::i32, arr_i, 4).ok());
    REQUIRE(w.set_string_array("t.arr_str", strs, 3).ok());
    REQUIRE(w.set_u32("t.u32", 17).ok());  // replaces in place
    std::vector<float> weights(64 * 3);
    for (size_t i = 0; i < weights.size(); ++i) weights[i] = (float)i * 0.5f;
    const int64_t ne[2] = {64, 3};
    REQUIRE(w.add_tensor("w", ai::tensor_type::f32, 2, ne, weights.data(), weights.size() * 4).ok());
    const int64_t ne1[1] = {5};
    const float small[5] = {1, 2, 3, 4, 5};
    REQUIRE(w.add_tensor("b", ai::tensor_type::f32, 1, ne1, small, sizeof small).ok());
    const std::vector<uint8_t> img = write_to_vector(w);

    ai::gguf_file f;
    ai::status st = f.open_memory(img.data(), img.size());
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(f.version() == 3);
    CHECK(f.alignment() == 32);
    CHECK(f.data_offset() % 32 == 0);
    REQUIRE(f.kv_count() == 15);
    CHECK(f.kv(5).key == "t.u32");  // replacement kept the original position

    uint32_t u32 = 0; int32_t i32 = 0; uint64_t u64 = 0; int64_t i64 = 0;
    float f32 = 0; double f64 = 0; bool b = false; std::string_view s;
    CHECK(f.get("t.u32", &u32).ok());  CHECK(u32 == 17);
    CHECK(f.get("t.u8", &u32).ok());   CHECK(u32 == 200);     // widening
    CHECK(f.get("t.i8", &i32).ok());   CHECK(i32 == -100);
    CHECK(f.get("t.u16", &u64).ok());  CHECK(u64 == 60000);
    CHECK(f.get("t.i16", &i64).ok());  CHECK(i64 == -30000);
    CHECK(f.get("t.i32", &i32).ok());  CHECK(i32 == -2000000000);
    CHECK(f.get("t.u64", &u64).ok());  CHECK(u64 == 18000000000000000000ull);
    CHECK(f.get("t.i64", &i64).ok());  CHECK(i64 == -9000000000000000000ll);
    CHECK(f.get("t.f32", &f32).ok());  CHECK(f32 == 0.1f);
    CHECK(f.get("t.f64", &f64).ok());  CHECK(f64 == 0.1);
    CHECK(f.get("t.bool", &b).ok());   CHECK(b);
    CHECK(f.get("general.architecture", &s).ok()); CHECK(s == "llama");

    // Narrowing that does not fit, sign mismatches and kind mismatches name the key.
    st = f.get("t.u64", &u32);
    CHECK(st.code == ai::result::type_mismatch);
    CHECK(std::strstr(st.message, "t.u64") != nullptr);
    CHECK(f.get("t.i8", &u64).code == ai::result::type_mismatch);
    CHECK(f.get("t.f32", &u32).code == ai::result::type_mismatch);
    CHECK(f.get("t.u32", &s).code == ai::result::type_mismatch);
    CHECK(f.get("t.bool", &u32).code == ai::result::type_mismatch);
    st = f.get("missing.key", &u32);
    CHECK(st.code == ai::result::not_found);
    CHECK(std::strstr(st.message, "missing.key") != nullptr);
    CHECK(f.get_or("missing.key", &u32, 99u).ok());
    CHECK(u32 == 99);
    CHECK(f.get_or("t.u32", &u32, 99u).ok());
    CHECK(u32 == 17);

    ai::gguf_array a;
    REQUIRE(f.get("t.arr_f32", &a).ok());
    CHECK(a.type == ai::gguf_type::f32);
    CHECK(a.count == 3);
    double d = 0;
    CHECK(a.get(2, &d)); CHECK(d == 3.25);
    CHECK_FALSE(a.get(3, &d));
    int64_t iv = 0;
    CHECK_FALSE(a.get(0, &iv));  // floats are not integers
    REQUIRE(f.get("t.arr_i32", &a).ok());
    CHECK(a.get(0, &iv)); CHECK(iv == -1);
    CHECK(a.get(3, &iv)); CHECK(iv == 2147483647);
    uint64_t uv = 0;
    CHECK_FALSE(a.get(0, &uv));  // -1 is not unsigned
    REQUIRE(f.get("t.arr_str", &a).ok());
    uint64_t cur = 0;
    std::vector<std::string> got;
    while (a.next_string(&cur, &s)) got.emplace_back(s);
    CHECK(got == std::vector<std::string>{"<unk>", "", "h\xc3\xa9llo"});

    REQUIRE(f.tensor_count() == 2);
    const ai::tensor_info* t = f.find_tensor("w");
    REQUIRE(t != nullptr);
    CHECK(t->type == ai::tensor_type::f32);
    CHECK(t->n_dims == 2);
    CHECK(t->ne[0] == 64);
    CHECK(t->ne[1] == 3);
    CHECK(t->n_elems == 192);
    CHECK(t->row_bytes == 256);
    CHECK(t->bytes == 768);
    CHECK(t->offset % 32 == 0);
    REQUIRE(t->data != nullptr);
    CHECK(std::memcmp(t->data, weights.data(), 768) == 0);
    std::vector<float> rows(128);
    REQUIRE(f.dequantize_rows(*t, 1, 2, rows.data(), rows.size()).ok());
    CHECK(rows[0] == weights[64]);
    CHECK(rows[127] == weights[191]);
    CHECK(f.dequantize_rows(*t, 2, 2, rows.data(), rows.size()).code == ai::result::out_of_range);
    CHECK(f.dequantize_rows(*t, 0, 2, rows.data(), 127).code == ai::result::invalid_argument);
    const ai::tensor_info* tb = f.find_tensor("b");
    REQUIRE(tb != nullptr);
    CHECK(tb->offset % 32 == 0);
    CHECK(std::memcmp(tb->data, small, sizeof small) == 0);
    CHECK(f.find_tensor("nope") == nullptr);
}

TEST_CASE("writer: alignment, argument checks, duplicate tensors") {
    ai::gguf_writer w;
    CHECK(w.set_alignment(3).code == ai::result::invalid_argument);
    CHECK(w.set_alignment(0).code == ai::result::invalid_argument);
    REQUIRE(w.set_alignment(256).ok());
    const int64_t ne[1] = {32};
    std::vector<uint8_t> q(18, 0);
    CHECK(w.add_tensor("q", ai::tensor_type::q4_0, 1, ne, q.data(), 17).code == ai::result::invalid_argument);
    REQUIRE(w.add_tensor("q", ai::tensor_type::q4_0, 1, ne, q.data(), 18).ok());
    CHECK(w.add_tensor("q", ai::tensor_type::q4_0, 1, ne, q.data(), 18).code == ai::result::invalid_argument);
    const int64_t bad[1] = {31};
    CHECK(w.add_tensor("r", ai::tensor_type::q4_0, 1, bad, q.data(), 18).code == ai::result::invalid_argument);
    CHECK(w.add_tensor("s", (ai::tensor_type)4, 1, ne, q.data(), 18).code == ai::result::invalid_argument);
    CHECK(w.add_tensor("t", ai::tensor_type::f32, 5, ne, q.data(), 18).code == ai::result::invalid_argument);
    CHECK(w.set_u32("", 1).code == ai::result::invalid_argument);
    const std::vector<uint8_t> img = write_to_vector(w);
    ai::gguf_file f;
    REQUIRE(f.open_memory(img.data(), img.size()).ok());
    CHECK(f.alignment() == 256);
    CHECK(f.data_offset() % 256 == 0);
    REQUIRE(f.tensor_count() == 1);
    CHECK(f.tensor(0).type == ai::tensor_type::q4_0);
    CHECK(f.tensor(0).bytes == 18);
    size_t written = 0;
    std::vector<uint8_t> small(img.size() - 1);
    CHECK(w.write_memory(small.data(), small.size(), &written).code == ai::result::invalid_argument);
}

TEST_CASE("nested arrays and typed access of hand-made images") {
    // An array of two arrays: [[1, 2, 3] as u16, ["x", "yz"]], then a scalar after it, so a wrong
    // skip length would misread the following key.
    image im;
    im.header(0, 2);
    im.str("nested").u32(9).u32(9).u64(2);
    im.u32(2).u64(3);
    for (int v : {1, 2, 3}) { im.b.push_back((uint8_t)v); im.b.push_back(0); }
    im.u32(8).u64(2).str("x").str("yz");
    im.str("after").u32(4).u32(0xdeadbeef);
    ai::gguf_file f;
    ai::status st = f.open_memory(im.b.data(), im.b.size());
    REQUIRE_MESSAGE(st.ok(), st.message);
    ai::gguf_array a, sub;
    REQUIRE(f.get("nested", &a).ok());
    CHECK(a.type == ai::gguf_type::array);
    CHECK(a.count == 2);
    uint64_t cur = 0;
    REQUIRE(a.next_array(&cur, &sub));
    CHECK(sub.type == ai::gguf_type::u16);
    CHECK(sub.count == 3);
    uint64_t u = 0;
    CHECK(sub.get(2, &u)); CHECK(u == 3);
    REQUIRE(a.next_array(&cur, &sub));
    CHECK(sub.type == ai::gguf_type::string);
    uint64_t c2 = 0;
    std::string_view s;
    REQUIRE(sub.next_string(&c2, &s)); CHECK(s == "x");
    REQUIRE(sub.next_string(&c2, &s)); CHECK(s == "yz");
    CHECK_FALSE(sub.next_string(&c2, &s));
    CHECK_FALSE(a.next_array(&cur, &sub));
    uint32_t after = 0;
    CHECK(f.get("after", &after).ok());
    CHECK(after == 0xdeadbeef);
}

TEST_CASE("a zero-dimension tensor is a scalar") {
    image im;
    im.header(1, 0).str("s").u32(0).u32(0).u64(0);
    while (im.b.size() % 32) im.b.push_back(0);
    for (uint8_t c : {0x00, 0x00, 0x80, 0x3f}) im.b.push_back(c);  // 1.0f
    ai::gguf_file f;
    ai::status st = f.open_memory(im.b.data(), im.b.size());
    REQUIRE_MESSAGE(st.ok(), st.message);
    const ai::tensor_info& t = f.tensor(0);
    CHECK(t.n_dims == 0);
    CHECK(t.n_elems == 1);
    CHECK(t.bytes == 4);
    float v = 0;
    REQUIRE(f.dequantize_rows(t, 0, 1, &v, 1).ok());
    CHECK(v == 1.0f);
}

TEST_CASE("hostile headers are rejected before allocating") {
    struct bad_case { const char* name; image im; ai::result want; };
    std::vector<bad_case> cases;
    { image im; im.header(0, ~0ull); cases.push_back({"huge kv count", im, ai::result::format_error}); }
    { image im; im.header(~0ull >> 1, 0); cases.push_back({"huge tensor count", im, ai::result::format_error}); }
    { image im; im.header(0, 1).u64(~0ull); cases.push_back({"huge key length", im, ai::result::format_error}); }
    { image im; im.header(0, 1).str("k").u32(9).u32(4).u64(~0ull / 2); cases.push_back({"array count overflow", im, ai::result::format_error}); }
    { image im; im.header(0, 1).str("k").u32(13).u32(0); cases.push_back({"bad value type", im, ai::result::format_error}); }
    { image im; im.header(0, 1).str("k").u32(9).u32(99).u64(0); cases.push_back({"bad element type", im, ai::result::format_error}); }
    {
        image im; im.header(0, 1).str("k");
        for (int i = 0; i < 200; ++i) im.u32(9).u32(9).u64(1);  // arrays of arrays, 200 deep
        cases.push_back({"depth bomb", im, ai::result::format_error});
    }
    { image im; im.header(0, 0, 1); cases.push_back({"version 1", im, ai::result::unsupported}); }
    { image im; im.header(0, 0, 4); cases.push_back({"version 4", im, ai::result::unsupported}); }
    { image im; im.header(0, 0, 0x03000000); cases.push_back({"big-endian", im, ai::result::unsupported}); }
    { image im; im.header(0, 2).str("a").u32(4).u32(1).str("a").u32(4).u32(2); cases.push_back({"duplicate key", im, ai::result::format_error}); }
    { image im; im.header(0, 1).str("general.alignment").u32(4).u32(48); cases.push_back({"alignment 48", im, ai::result::format_error}); }
    { image im; im.header(0, 1).str("general.alignment").u32(4).u32(0); cases.push_back({"alignment 0", im, ai::result::format_error}); }
    { image im; im.header(0, 1).str("general.alignment").u32(8).str("32"); cases.push_back({"alignment string", im, ai::result::format_error}); }
    { image im; im.header(0, 1).str("general.alignment").u32(10).u64(32); cases.push_back({"alignment u64", im, ai::result::format_error}); }
    { image im; im.header(0, 1).str("t\nname").u32(13).u32(0); cases.push_back({"newline in key", im, ai::result::format_error}); }
    { image im; im.header(1, 0).str("t").u32(5).u64(1).u64(1).u64(1).u64(1).u64(1).u32(0).u64(0); cases.push_back({"5 dims", im, ai::result::format_error}); }
    { image im; im.header(1, 0).str("t").u32(2).u64(1ull << 40).u64(1ull << 40).u32(0).u64(0); cases.push_back({"elements overflow", im, ai::result::format_error}); }
    { image im; im.header(1, 0).str("t").u32(1).u64(~0ull).u32(0).u64(0); cases.push_back({"negative dim", im, ai::result::format_error}); }
    { image im; im.header(1, 0).str("t").u32(1).u64(32).u32(12345).u64(0); cases.push_back({"unknown type", im, ai::result::unsupported}); }
    { image im; im.header(1, 0).str("t").u32(1).u64(32).u32(4).u64(0); cases.push_back({"retired type", im, ai::result::unsupported}); }
    { image im; im.header(1, 0).str("t").u32(1).u64(31).u32(2).u64(0); cases.push_back({"partial block", im, ai::result::format_error}); }
    { image im; im.header(1, 0).str("t").u32(1).u64(4).u32(0).u64(16); cases.push_back({"misaligned offset", im, ai::result::format_error}); }
    { image im; im.header(1, 0).str("t").u32(1).u64(4).u32(0).u64(1ull << 62); cases.push_back({"data past end", im, ai::result::format_error}); }
    {
        image im; im.header(2, 0).str("t").u32(1).u64(16).u32(0).u64(0).str("t").u32(1).u64(16).u32(0).u64(64);
        while (im.b.size() % 32) im.b.push_back(0);
        im.b.resize(im.b.size() + 128);
        cases.push_back({"duplicate tensor", im, ai::result::format_error});
    }
    {
        image im; im.header(2, 0).str("t").u32(1).u64(16).u32(0).u64(0).str("u").u32(1).u64(16).u32(0).u64(32);
        while (im.b.size() % 32) im.b.push_back(0);
        im.b.resize(im.b.size() + 128);
        cases.push_back({"overlapping tensors", im, ai::result::format_error});
    }
    { image im; im.header(0, 1).str("").u32(4).u32(1); cases.push_back({"empty key", im, ai::result::format_error}); }
    { image im; im.header(0, 1).str("b").u32(7).b.push_back(2); cases.push_back({"bool 2", im, ai::result::format_error}); }
    { image im; im.header(1, 0).str(std::string(65, 'n')).u32(1).u64(4).u32(0).u64(0); cases.push_back({"65-byte name", im, ai::result::format_error}); }
    {
        // An empty tensor between two others must not hide their overlap.
        image im; im.header(3, 0).str("a").u32(1).u64(64).u32(0).u64(0).str("z").u32(1).u64(0).u32(0).u64(32).str("b").u32(1).u64(16).u32(0).u64(64);
        while (im.b.size() % 32) im.b.push_back(0);
        im.b.resize(im.b.size() + 256);
        cases.push_back({"overlap behind an empty tensor", im, ai::result::format_error});
    }
    { image im; im.b = {'G', 'G', 'U'}; cases.push_back({"3 bytes", im, ai::result::format_error}); }
    { image im; im.b = {'G', 'G', 'M', 'L', 1, 0, 0, 0}; cases.push_back({"bad magic", im, ai::result::format_error}); }
    for (auto& c : cases) {
        CAPTURE(c.name);
        counting_alloc ca;
        ai::gguf_options opt;
        opt.alloc = ca.hooks();
        ai::gguf_file f;
        const ai::status st = f.open_memory(c.im.b.data(), c.im.b.size(), &opt);
        CHECK(st.code == c.want);
        CHECK(st.message[0] != '\0');
        CHECK(std::strchr(st.message, '\n') == nullptr);  // one line, whatever the file's names hold
        CHECK_FALSE(f.is_open());
        CHECK(ca.live == 0);
        CHECK(ca.live_bytes < (1u << 20));  // nothing big was ever held (counts were checked first)
    }
}

namespace {
// Keys of four kinds, two tensors and a non-default alignment: small enough to mutate at every byte.
void fill_sample(ai::gguf_writer& w) {
    static const std::string_view toks[4] = {"a", "bb", "ccc", ""};
    static const uint32_t ids[3] = {1, 2, 3};
    static float data[2][64];
    for (int i = 0; i < 64; ++i) { data[0][i] = (float)i; data[1][i] = -(float)i; }
    const int64_t ne[2] = {16, 4};
    REQUIRE(w.set_string("general.architecture", "llama").ok());
    REQUIRE(w.set_string_array("tokenizer.ggml.tokens", toks, 4).ok());
    REQUIRE(w.set_array("ids", ai::gguf_type::u32, ids, 3).ok());
    REQUIRE(w.set_f32("eps", 1e-5f).ok());
    REQUIRE(w.set_alignment(64).ok());
    REQUIRE(w.add_tensor("x", ai::tensor_type::f32, 2, ne, data[0], sizeof data[0]).ok());
    REQUIRE(w.add_tensor("y", ai::tensor_type::f32, 2, ne, data[1], sizeof data[1]).ok());
}
std::vector<uint8_t> sample_file() {
    ai::gguf_writer w;
    fill_sample(w);
    return write_to_vector(w);
}
}  // namespace

TEST_CASE("every truncation and many bit flips fail cleanly") {
    const std::vector<uint8_t> img = sample_file();
    ai::gguf_file f;
    REQUIRE(f.open_memory(img.data(), img.size()).ok());
    counting_alloc ca;
    ai::gguf_options opt;
    opt.alloc = ca.hooks();
    for (size_t n = 0; n < img.size(); ++n) {
        CAPTURE(n);
        // A copy of exactly n bytes so that ASan sees any read past the end.
        std::vector<uint8_t> cut(img.begin(), img.begin() + (ptrdiff_t)n);
        const ai::status st = f.open_memory(cut.data(), cut.size(), &opt);
        CHECK_FALSE(st.ok());
        CHECK(st.message[0] != '\0');
        CHECK(ca.live == 0);
    }
    std::mt19937 rng(12345);
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::vector<uint8_t> m = img;
        const int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; ++k) m[rng() % m.size()] ^= (uint8_t)(1u << (rng() % 8));
        const ai::status st = f.open_memory(m.data(), m.size(), &opt);
        if (st.ok()) {
            ++accepted;
            for (int64_t t = 0; t < f.tensor_count(); ++t) {  // anything accepted must be readable
                const ai::tensor_info& ti = f.tensor(t);
                CHECK(ti.offset + ti.bytes <= m.size());
            }
        } else {
            CHECK(st.message[0] != '\0');
        }
        f.close();
        CHECK(ca.live == 0);
    }
    CHECK(accepted > 0);  // flips in tensor data are harmless and must still parse
}

TEST_CASE("allocation failure at every allocation is reported and leaks nothing") {
    const std::vector<uint8_t> img = sample_file();
    int64_t needed = 0;
    {
        counting_alloc ca;
        ai::gguf_options opt;
        opt.alloc = ca.hooks();
        ai::gguf_file f;
        REQUIRE(f.open_memory(img.data(), img.size(), &opt).ok());
        needed = ca.calls;
        f.close();
        CHECK(ca.live == 0);
    }
    REQUIRE(needed > 0);
    for (int64_t k = 0; k < needed; ++k) {
        CAPTURE(k);
        counting_alloc ca;
        ca.fail_at = k;
        ai::gguf_options opt;
        opt.alloc = ca.hooks();
        ai::gguf_file f;
        const ai::status st = f.open_memory(img.data(), img.size(), &opt);
        CHECK(st.code == ai::result::out_of_memory);
        CHECK(ca.live == 0);
    }
}

namespace {
struct mem_stream {
    const std::vector<uint8_t>* bytes;
    int reads = 0;
    uint64_t fail_from = ~0ull;  // reads starting at or past this offset fail
    static bool read(void* user, uint64_t off, void* dst, size_t n) {
        auto* m = static_cast<mem_stream*>(user);
        m->reads++;
        if (off + n > m->bytes->size() || off >= m->fail_from) return false;
        std::memcpy(dst, m->bytes->data() + off, n);
        return true;
    }
};
}  // namespace

TEST_CASE("reader callbacks: metadata larger than the first read, lazy and loaded data") {
    // 40,000 tokens of 40 bytes: about 1.9 MB of metadata, past the 1 MiB first read.
    std::vector<std::string> toks(40000);
    std::vector<std::string_view> views;
    for (size_t i = 0; i < toks.size(); ++i) toks[i] = "token-" + std::to_string(i) + std::string(28, 'x');
    for (auto& t : toks) views.push_back(t);
    ai::gguf_writer w;
    REQUIRE(w.set_string_array("tokenizer.ggml.tokens", views.data(), views.size()).ok());
    std::vector<uint16_t> h(256);
    for (int i = 0; i < 256; ++i) h[(size_t)i] = ai::f32_to_f16((float)i / 8.0f);
    const int64_t ne[2] = {64, 4};
    REQUIRE(w.add_tensor("h", ai::tensor_type::f16, 2, ne, h.data(), h.size() * 2).ok());
    const std::vector<uint8_t> img = write_to_vector(w);
    REQUIRE(img.size() > (1u << 20));

    for (bool load : {false, true}) {
        CAPTURE(load);
        mem_stream ms{&img};
        ai::reader r;
        r.read = mem_stream::read;
        r.size = img.size();
        r.user = &ms;
        ai::gguf_options opt;
        opt.load_data = load;
        ai::gguf_file f;
        ai::status st = f.open_reader(r, &opt);
        REQUIRE_MESSAGE(st.ok(), st.message);
        CHECK(ms.reads >= 2);
        ai::gguf_array a;
        REQUIRE(f.get("tokenizer.ggml.tokens", &a).ok());
        CHECK(a.count == 40000);
        const ai::tensor_info* t = f.find_tensor("h");
        REQUIRE(t != nullptr);
        CHECK((t->data != nullptr) == load);
        std::vector<float> out(64);
        REQUIRE(f.dequantize_rows(*t, 3, 1, out.data(), out.size()).ok());
        CHECK(out[5] == (float)(3 * 64 + 5) / 8.0f);
        std::vector<uint8_t> raw(t->bytes);
        REQUIRE(f.read_tensor(*t, raw.data(), raw.size()).ok());
        CHECK(std::memcmp(raw.data(), h.data(), raw.size()) == 0);
    }
    // A stream that fails while the data is read is an io_error, not a crash.
    mem_stream ms{&img};
    ms.fail_from = img.size() - 512;  // the tensor's 512 bytes end the file
    ai::reader r;
    r.read = mem_stream::read;
    r.size = img.size();
    r.user = &ms;
    ai::gguf_file f;
    REQUIRE(f.open_reader(r).ok());
    std::vector<float> out(64);
    CHECK(f.dequantize_rows(*f.find_tensor("h"), 3, 1, out.data(), out.size()).code == ai::result::io_error);
    ai::gguf_options opt;
    opt.load_data = true;
    CHECK(f.open_reader(r, &opt).code == ai::result::io_error);
    CHECK_FALSE(f.is_open());
}

#ifndef AI_NO_STDIO
TEST_CASE("files: mapped and read give the same view; write_file round-trips; logging") {
    const std::vector<uint8_t> img = sample_file();
    char path[] = "/tmp/ai_test_gguf_XXXXXX";
    {
        // Write through the writer's file path, then compare with the memory image.
        ai::gguf_writer w;
        fill_sample(w);
        std::snprintf(path, sizeof path, "/tmp/ai_test_gguf_%d.gguf", (int)img.size());
        REQUIRE(w.write_file(path).ok());
    }
    std::FILE* fp = std::fopen(path, "rb");
    REQUIRE(fp != nullptr);
    std::vector<uint8_t> disk(img.size() + 16);
    const size_t n = std::fread(disk.data(), 1, disk.size(), fp);
    std::fclose(fp);
    REQUIRE(n == img.size());
    CHECK(std::memcmp(disk.data(), img.data(), n) == 0);

    struct log_sink { int calls = 0; std::string last; };
    log_sink sink;
    for (bool no_mmap : {false, true}) {
        CAPTURE(no_mmap);
        ai::gguf_options opt;
        opt.no_mmap = no_mmap;
        opt.log.fn = [](void* u, ai::log_level, const char* m) { auto* s = static_cast<log_sink*>(u); s->calls++; s->last = m; };
        opt.log.user = &sink;
        ai::gguf_file f;
        REQUIRE(f.open_file(path, &opt).ok());
        CHECK(f.is_mapped() == !no_mmap);
        const ai::tensor_info* y = f.find_tensor("y");
        REQUIRE(y != nullptr);
        std::vector<float> row(16);
        REQUIRE(f.dequantize_rows(*y, 2, 1, row.data(), row.size()).ok());
        CHECK(row[3] == -35.0f);
        ai::gguf_file moved(std::move(f));  // moving keeps views valid
        CHECK_FALSE(f.is_open());
        CHECK(moved.find_tensor("x") != nullptr);
    }
    CHECK(sink.calls >= 2);
    CHECK(sink.last.find("read into memory") != std::string::npos);  // the last open was the no_mmap one
    std::remove(path);
    ai::gguf_file f;
    const ai::status st = f.open_file("/nonexistent/dir/x.gguf");
    CHECK(st.code == ai::result::io_error);
    CHECK(std::strstr(st.message, "/nonexistent/dir/x.gguf") != nullptr);
}
#endif

TEST_CASE("type table facts") {
    // Block sizes as GGUF defines them; a wrong entry would misplace every later tensor of a file.
    struct row { ai::tensor_type t; const char* name; int be, bb; };
    const row rows[] = {
        {ai::tensor_type::f32, "F32", 1, 4},       {ai::tensor_type::f16, "F16", 1, 2},
        {ai::tensor_type::bf16, "BF16", 1, 2},     {ai::tensor_type::q4_0, "Q4_0", 32, 18},
        {ai::tensor_type::q4_1, "Q4_1", 32, 20},   {ai::tensor_type::q5_0, "Q5_0", 32, 22},
        {ai::tensor_type::q5_1, "Q5_1", 32, 24},   {ai::tensor_type::q8_0, "Q8_0", 32, 34},
        {ai::tensor_type::q2_k, "Q2_K", 256, 84},  {ai::tensor_type::q3_k, "Q3_K", 256, 110},
        {ai::tensor_type::q4_k, "Q4_K", 256, 144}, {ai::tensor_type::q5_k, "Q5_K", 256, 176},
        {ai::tensor_type::q6_k, "Q6_K", 256, 210}, {ai::tensor_type::q8_k, "Q8_K", 256, 292},
        {ai::tensor_type::iq4_nl, "IQ4_NL", 32, 18}, {ai::tensor_type::mxfp4, "MXFP4", 32, 17},
    };
    for (const row& r : rows) {
        CAPTURE(r.name);
        const ai::type_traits* tt = ai::type_info(r.t);
        REQUIRE(tt != nullptr);
        CHECK(std::string(tt->name) == r.name);
        CHECK(tt->block_elems == r.be);
        CHECK(tt->block_bytes == r.bb);
    }
    CHECK(ai::type_info((ai::tensor_type)4) == nullptr);
    CHECK(ai::type_info((ai::tensor_type)1000) == nullptr);
    CHECK(std::string(ai::type_name((ai::tensor_type)1000)) == "unknown");
    size_t b = 0;
    CHECK(ai::type_row_bytes(ai::tensor_type::q4_k, 512, &b));
    CHECK(b == 288);
    CHECK_FALSE(ai::type_row_bytes(ai::tensor_type::q4_k, 100, &b));
    CHECK_FALSE(ai::type_row_bytes(ai::tensor_type::f32, -1, &b));
    CHECK_FALSE(ai::type_row_bytes(ai::tensor_type::f32, INT64_MAX, &b));
}
