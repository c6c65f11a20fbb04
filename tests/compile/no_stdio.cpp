// AI_NO_STDIO: no file API at all (open_file and write_file must be absent).
#define AI_NO_STDIO
#define AI_IMPLEMENTATION
#include "ai.hpp"

#include <type_traits>
#include <utility>

template <class T, class = void> struct has_open_file : std::false_type {};
template <class T>
struct has_open_file<T, decltype(void(std::declval<T&>().open_file(""))) > : std::true_type {};
template <class T, class = void> struct has_write_file : std::false_type {};
template <class T>
struct has_write_file<T, decltype(void(std::declval<const T&>().write_file(""))) > : std::true_type {};
static_assert(!has_open_file<ai::gguf_file>::value, "AI_NO_STDIO must remove gguf_file::open_file");
static_assert(!has_write_file<ai::gguf_writer>::value, "AI_NO_STDIO must remove gguf_writer::write_file");
