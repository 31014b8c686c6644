// Typed, checked reading of the JSON files qparity reads back (results.json, device.json, the device
// journal, verdict.json, pipeline state and config): a key that is missing, a value of the wrong type, a
// number that is not an integer or an integer that does not fit its range exactly is a qp::Error naming the
// file, the key path and the fix, never a truncated value, a std::out_of_range or a type_error.
//
//   const qp::json_read::Source src{"device.json", "write it again with qparity device run"};
//   const auto j = qp::json_read::parse(text, src);                 // bad JSON: "device.json is not JSON (...)"
//   const auto &img = qp::json_read::array(j, "images", src)[0];
//   int label = qp::json_read::to_int(img, "label", 0, classes - 1, src, "images[0]");
//   // -> "device.json: images[0].label is 4294967297, outside [0, 2]\n  fix: ..."
//
// nlohmann's get<int>() converts with a C cast (2^32 + 5 reads as 5); these functions never do.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qp::json_read {

using json = nlohmann::json;

// The file being read, as messages name it, the fix they suggest, and the exit code of the qp::Error
// (verify uses 2, "unusable input").
struct Source {
  std::string name;
  std::string fix;
  int exit_code = 1;
};

// Throws qp::Error("<src.name>: <path> <what>\n  fix: <src.fix>") with src.exit_code; path may be empty.
[[noreturn]] void fail_at(const Source &src, const std::string &path, const std::string &what);

// "images[3]" + "scores" -> "images[3].scores"; "" + "n" -> "n".
std::string key_path(const std::string &path, const std::string &key);
std::string index_path(const std::string &path, size_t i);

// Parses JSON text; a syntax error names src.name and where the parser stopped.
json parse(const std::string &text, const Source &src);
// Reads and parses a file; a missing or unreadable file is an error naming it.
json parse_file(const std::string &path, const Source &src);

// `obj` must be an object holding `key`; returns its value.
const json &member(const json &obj, const char *key, const Source &src, const std::string &path = "");
// The same, for a key that may be absent (nullptr then); a present key is still type-checked by the caller.
const json *optional_member(const json &obj, const char *key, const Source &src, const std::string &path = "");

// A value that must be an integer in [min, max] (no float, no truncation). `path` names the value itself.
int64_t as_int(const json &v, int64_t min, int64_t max, const Source &src, const std::string &path);
uint64_t as_uint(const json &v, uint64_t max, const Source &src, const std::string &path);
double as_number(const json &v, const Source &src, const std::string &path);  // finite
const std::string &as_string(const json &v, const Source &src, const std::string &path);
bool as_bool(const json &v, const Source &src, const std::string &path);
const json &as_array(const json &v, const Source &src, const std::string &path);
const json &as_object(const json &v, const Source &src, const std::string &path);

// member() + as_*() in one call; `path` names the object holding `key`.
int64_t to_int(const json &obj, const char *key, int64_t min, int64_t max, const Source &src, const std::string &path = "");
uint64_t to_uint(const json &obj, const char *key, uint64_t max, const Source &src, const std::string &path = "");
double to_number(const json &obj, const char *key, const Source &src, const std::string &path = "");
const std::string &to_string(const json &obj, const char *key, const Source &src, const std::string &path = "");
bool to_bool(const json &obj, const char *key, const Source &src, const std::string &path = "");
const json &array(const json &obj, const char *key, const Source &src, const std::string &path = "");

// An array of integers in [min, max]; `length` (when not npos) is the exact length required.
std::vector<int> int_array(const json &obj, const char *key, int min, int max, size_t length, const Source &src,
                           const std::string &path = "");
// An array of strings; `non_empty` rejects "" elements.
std::vector<std::string> string_array(const json &obj, const char *key, const Source &src, const std::string &path = "",
                                      bool non_empty = true);
// A SHA-256 in hex (64 characters 0-9a-f, either case), returned in lower case.
std::string sha256(const json &obj, const char *key, const Source &src, const std::string &path = "");

// The int8 output vector of one image: exactly `classes` values in [-128, 127].
std::vector<int> int8_scores(const json &obj, const char *key, size_t classes, const Source &src, const std::string &path = "");

}  // namespace qp::json_read
