// Typed, checked JSON reading (see json_read.h).
#include "common/json_read.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace qp::json_read {
namespace {

// The value as the message shows it: short, one line.
std::string shown(const json &v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

const char *type_of(const json &v) {
  if (v.is_number_float()) return "a fractional number";
  if (v.is_number()) return "an integer";
  return v.type_name();  // "null", "string", "array", "object", "boolean"
}

std::string range(int64_t min, int64_t max) {
  return "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
}

}  // namespace

void fail_at(const Source &src, const std::string &path, const std::string &what) {
  std::string msg = src.name + (path.empty() ? " " : ": " + path + " ") + what;
  if (!src.fix.empty()) msg += "\n  fix: " + src.fix;
  throw Error(msg, src.exit_code);
}

std::string key_path(const std::string &path, const std::string &key) {
  return path.empty() ? key : path + "." + key;
}

std::string index_path(const std::string &path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

json parse(const std::string &text, const Source &src) {
  try {
    return json::parse(text);
  } catch (const json::exception &e) {
    fail_at(src, "", "is not valid JSON (" + std::string(e.what()).substr(0, 160) + ")");
  }
}

json parse_file(const std::string &path, const Source &src) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_at(src, "", "cannot be read (" + path + ": " + std::strerror(errno) + ")");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), src);
}

const json &member(const json &obj, const char *key, const Source &src, const std::string &path) {
  const json *v = optional_member(obj, key, src, path);
  if (!v) fail_at(src, key_path(path, key), "is missing");
  return *v;
}

const json *optional_member(const json &obj, const char *key, const Source &src, const std::string &path) {
  if (!obj.is_object()) fail_at(src, path.empty() ? "the top level" : path, std::string("is ") + type_of(obj) + ", not an object");
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

int64_t as_int(const json &v, int64_t min, int64_t max, const Source &src, const std::string &path) {
  if (!v.is_number_integer()) fail_at(src, path, "is " + shown(v) + " (" + type_of(v) + "), not an integer in " + range(min, max));
  // Non-negative integers are stored unsigned, negative ones signed: compare each without a cast that wraps.
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (max < 0 || u > static_cast<uint64_t>(max)) fail_at(src, path, "is " + shown(v) + ", outside " + range(min, max));
    const auto s = static_cast<int64_t>(u);
    if (s < min) fail_at(src, path, "is " + shown(v) + ", outside " + range(min, max));
    return s;
  }
  const int64_t s = v.get<int64_t>();
  if (s < min || s > max) fail_at(src, path, "is " + shown(v) + ", outside " + range(min, max));
  return s;
}

uint64_t as_uint(const json &v, uint64_t max, const Source &src, const std::string &path) {
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
    fail_at(src, path, "is " + shown(v) + ", not a non-negative integer");
  const uint64_t u = v.get<uint64_t>();
  if (u > max) fail_at(src, path, "is " + shown(v) + ", more than " + std::to_string(max));
  return u;
}

double as_number(const json &v, const Source &src, const std::string &path) {
  if (!v.is_number()) fail_at(src, path, "is " + shown(v) + " (" + type_of(v) + "), not a number");
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail_at(src, path, "is not a finite number");
  return d;
}

const std::string &as_string(const json &v, const Source &src, const std::string &path) {
  if (!v.is_string()) fail_at(src, path, "is " + shown(v) + " (" + type_of(v) + "), not a string");
  return v.get_ref<const std::string &>();
}

bool as_bool(const json &v, const Source &src, const std::string &path) {
  if (!v.is_boolean()) fail_at(src, path, "is " + shown(v) + " (" + type_of(v) + "), not true or false");
  return v.get<bool>();
}

const json &as_array(const json &v, const Source &src, const std::string &path) {
  if (!v.is_array()) fail_at(src, path, "is " + shown(v) + " (" + type_of(v) + "), not a list");
  return v;
}

const json &as_object(const json &v, const Source &src, const std::string &path) {
  if (!v.is_object()) fail_at(src, path.empty() ? "the top level" : path, std::string("is ") + type_of(v) + ", not an object");
  return v;
}

int64_t to_int(const json &obj, const char *key, int64_t min, int64_t max, const Source &src, const std::string &path) {
  return as_int(member(obj, key, src, path), min, max, src, key_path(path, key));
}

uint64_t to_uint(const json &obj, const char *key, uint64_t max, const Source &src, const std::string &path) {
  return as_uint(member(obj, key, src, path), max, src, key_path(path, key));
}

double to_number(const json &obj, const char *key, const Source &src, const std::string &path) {
  return as_number(member(obj, key, src, path), src, key_path(path, key));
}

const std::string &to_string(const json &obj, const char *key, const Source &src, const std::string &path) {
  return as_string(member(obj, key, src, path), src, key_path(path, key));
}

bool to_bool(const json &obj, const char *key, const Source &src, const std::string &path) {
  return as_bool(member(obj, key, src, path), src, key_path(path, key));
}

const json &array(const json &obj, const char *key, const Source &src, const std::string &path) {
  return as_array(member(obj, key, src, path), src, key_path(path, key));
}

std::vector<int> int_array(const json &obj, const char *key, int min, int max, size_t length, const Source &src,
                           const std::string &path) {
  const std::string where = key_path(path, key);
  const json &a = array(obj, key, src, path);
  if (length != static_cast<size_t>(-1) && a.size() != length)
    fail_at(src, where, "has " + std::to_string(a.size()) + " values, not " + std::to_string(length));
  std::vector<int> out;
  out.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) out.push_back(static_cast<int>(as_int(a[i], min, max, src, index_path(where, i))));
  return out;
}

std::vector<std::string> string_array(const json &obj, const char *key, const Source &src, const std::string &path,
                                      bool non_empty) {
  const std::string where = key_path(path, key);
  const json &a = array(obj, key, src, path);
  std::vector<std::string> out;
  out.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    out.push_back(as_string(a[i], src, index_path(where, i)));
    if (non_empty && out.back().empty()) fail_at(src, index_path(where, i), "is an empty string");
  }
  return out;
}

std::string sha256(const json &obj, const char *key, const Source &src, const std::string &path) {
  std::string h = to_string(obj, key, src, path);
  bool hex = h.size() == 64;
  for (auto &c : h) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    hex = hex && std::isxdigit(static_cast<unsigned char>(c));
  }
  if (!hex) fail_at(src, key_path(path, key), "is " + shown(obj[key]) + ", not a SHA-256 (64 hexadecimal digits)");
  return h;
}

std::vector<int> int8_scores(const json &obj, const char *key, size_t classes, const Source &src, const std::string &path) {
  return int_array(obj, key, -128, 127, classes, src, path);
}

}  // namespace qp::json_read
