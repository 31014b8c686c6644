// SHA-256 of a byte buffer or a file, as lowercase hex. Used for image content hashes in manifests and
// results, and for model hashes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace qp {

std::string sha256_hex(const void *data, size_t size);
std::string sha256_file_hex(const std::string &path);  // throws qp::Error if unreadable

}  // namespace qp
