// monarch::io: .safetensors files (Hugging Face).
//
// Layout: N as an 8-byte little-endian unsigned integer, then N bytes of UTF-8 JSON (parsed with
// nlohmann-json), then the byte buffer. The JSON maps each tensor name to
// {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} with offsets relative to the
// byte buffer; an optional "__metadata__" maps strings to strings.
// Supported dtypes: F32, F64, C64 (complex64), and BF16 / F16, which are kept as stored and
// decoded exactly to float when converted (values(), to_matrix(), ...). Everything else is
// rejected with FormatError. Validation: N within the file (and at most 100 MB, as in the
// reference implementation), a JSON object with no duplicate keys, every entry with exactly a
// known dtype, a shape of non-negative integers and two offsets with begin <= end <= buffer size
// and end - begin == numel * itemsize (overflow-checked), and no two tensors overlapping. Gaps
// between tensors and trailing bytes are tolerated.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "detail/bytes.hpp"
#include "format_error.hpp"
#include "tensor.hpp"

namespace monarch::io {

/// The tensors (by name) and the free-form string metadata of a .safetensors file.
struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string source;  ///< path or "<buffer>", for messages

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  /// The tensor called `name`; FormatError listing the names present otherwise.
  const Tensor& at(const std::string& name) const {
    const auto it = tensors.find(name);
    if (it != tensors.end()) return it->second;
    std::string names;
    for (const auto& kv : tensors) names += (names.empty() ? "'" : ", '") + kv.first + "'";
    throw FormatError(monarch::detail::concat(detail::where(source, name), "no such tensor; the file holds ",
                                              names.empty() ? std::string("no tensors") : names));
  }
};

namespace detail {

inline constexpr std::size_t kMaxSafetensorsHeader = 100'000'000;

inline DType safetensors_dtype(const std::string& s, std::string_view source, std::string_view tensor) {
  if (s == "F32") return DType::float32;
  if (s == "F64") return DType::float64;
  if (s == "C64") return DType::complex64;
  if (s == "BF16") return DType::bfloat16;
  if (s == "F16") return DType::float16;
  throw FormatError(monarch::detail::concat(where(source, tensor), "unsupported dtype '", s,
                                            "', expected one of F32, F64, C64, BF16, F16"));
}

inline const char* safetensors_dtype_name(DType d, std::string_view source, std::string_view tensor) {
  switch (d) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::complex64: return "C64";
    case DType::bfloat16: return "BF16";
    case DType::float16: return "F16";
    case DType::complex128: break;
  }
  throw FormatError(monarch::detail::concat(where(source, tensor),
                                            "complex128 has no .safetensors dtype; use .npy or complex64"));
}

/// A JSON value for a message: scalars verbatim, containers by type only (dump() of a deeply
/// nested value would recurse once per level).
inline std::string brief(const nlohmann::json& v) {
  return v.is_structured() ? std::string("a JSON ") + v.type_name() : v.dump();
}

/// A JSON value that must be an unsigned integer fitting in Index.
inline std::size_t json_extent(const nlohmann::json& v, std::string_view source, std::string_view tensor,
                               const char* field) {
  require_format(v.is_number_unsigned() && v.get<std::uint64_t>() <= static_cast<std::uint64_t>(PTRDIFF_MAX), source,
                 tensor, "'", field, "' must hold non-negative integers, given ", brief(v));
  return static_cast<std::size_t>(v.get<std::uint64_t>());
}

/// Parses the JSON header, rejecting duplicate keys at any level (nlohmann keeps the last one
/// silently) and anything that is not JSON.
inline nlohmann::json parse_safetensors_header(std::string_view text, std::string_view source) {
  std::vector<std::set<std::string>> keys;  // keys seen in each open object
  bool duplicate = false;
  std::string dup_key;
  const nlohmann::json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t ev,
                                                   nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) {  // keys of an object at `depth` are reported at depth + 1
      keys.resize(static_cast<std::size_t>(depth) + 1);
      keys.back().clear();
    }
    if (ev == E::key && depth >= 1 && !keys[static_cast<std::size_t>(depth) - 1].insert(parsed.get<std::string>()).second) {
      duplicate = true;
      dup_key = parsed.get<std::string>();
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), cb);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(monarch::detail::concat(where(source), "header is not valid JSON: ", e.what()));
  }
  require_format(!duplicate, source, {}, "header has the key '", dup_key, "' more than once");
  require_format(j.is_object(), source, {}, "header must be a JSON object, given ", j.type_name());
  return j;
}

}  // namespace detail

/// Parses a .safetensors image held in memory; `source` names it in messages. FormatError for
/// anything malformed; never reads outside [data, data + size).
inline SafetensorsFile read_safetensors_buffer(const void* data, std::size_t size, std::string source = "<buffer>") {
  const auto* p = static_cast<const std::uint8_t*>(data);
  const std::string_view src = source;
  detail::require_format(size >= 8, src, {}, "file has ", size, " bytes, shorter than the 8-byte header length");
  const std::uint64_t n = detail::load_le(p, 8);
  detail::require_format(n <= size - 8, src, {}, "header length ", n, " runs past the end of the file (",
                         size - 8, " bytes follow the length)");
  detail::require_format(n <= detail::kMaxSafetensorsHeader, src, {}, "header length ", n, " exceeds the limit of ",
                         detail::kMaxSafetensorsHeader, " bytes");
  const auto header_len = static_cast<std::size_t>(n);
  const nlohmann::json j =
      detail::parse_safetensors_header(std::string_view(reinterpret_cast<const char*>(p + 8), header_len), src);
  const std::uint8_t* buffer = p + 8 + header_len;
  const std::size_t buffer_size = size - 8 - header_len;

  SafetensorsFile file;
  struct Range {
    std::size_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") {
      detail::require_format(entry.is_object(), src, {}, "'__metadata__' must be an object of strings");
      for (const auto& [key, value] : entry.items()) {
        detail::require_format(value.is_string(), src, {}, "'__metadata__' value of '", key,
                               "' must be a string, given ", detail::brief(value));
        file.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    detail::require_format(entry.is_object(), src, name, "entry must be an object, given ", detail::brief(entry));
    for (const auto& [key, value] : entry.items()) {
      (void)value;
      detail::require_format(key == "dtype" || key == "shape" || key == "data_offsets", src, name, "unexpected field '",
                             key, "', expected only 'dtype', 'shape', 'data_offsets'");
    }
    detail::require_format(entry.contains("dtype") && entry["dtype"].is_string(), src, name,
                           "'dtype' must be a string");
    detail::require_format(entry.contains("shape") && entry["shape"].is_array(), src, name, "'shape' must be an array");
    detail::require_format(entry.contains("data_offsets") && entry["data_offsets"].is_array() &&
                               entry["data_offsets"].size() == 2,
                           src, name, "'data_offsets' must be an array [begin, end]");
    Tensor t;
    t.name = name;
    t.dtype = detail::safetensors_dtype(entry["dtype"].get<std::string>(), src, name);
    std::size_t numel = 1, nbytes = 0;
    for (const auto& e : entry["shape"]) {
      const std::size_t extent = detail::json_extent(e, src, name, "shape");
      t.shape.push_back(static_cast<Index>(extent));
      detail::require_format(detail::checked_mul(numel, extent, numel) && numel <= static_cast<std::size_t>(PTRDIFF_MAX),
                             src, name, "shape ", shape_string(t.shape), "... overflows");
    }
    detail::require_format(detail::checked_mul(numel, itemsize(t.dtype), nbytes), src, name, "shape ",
                           shape_string(t.shape), " overflows");
    const std::size_t begin = detail::json_extent(entry["data_offsets"][0], src, name, "data_offsets");
    const std::size_t end = detail::json_extent(entry["data_offsets"][1], src, name, "data_offsets");
    detail::require_format(begin <= end && end <= buffer_size, src, name, "data_offsets [", begin, ", ", end,
                           "] outside the byte buffer [0, ", buffer_size, "]");
    detail::require_format(end - begin == nbytes, src, name, "data_offsets [", begin, ", ", end, "] span ",
                           end - begin, " bytes, expected ", nbytes, " for ", dtype_name(t.dtype), " ",
                           shape_string(t.shape));
    t.data.assign(buffer + begin, buffer + end);
    t.source = source;
    ranges.push_back({begin, end, name});
    file.tensors.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  for (std::size_t i = 1; i < ranges.size(); ++i)
    detail::require_format(ranges[i].begin >= ranges[i - 1].end, src, ranges[i].name, "data_offsets [", ranges[i].begin,
                           ", ", ranges[i].end, "] overlap those of tensor '", ranges[i - 1].name, "' [",
                           ranges[i - 1].begin, ", ", ranges[i - 1].end, "]");
  file.source = std::move(source);
  return file;
}

/// Reads a .safetensors file.
inline SafetensorsFile read_safetensors(const std::string& path) {
  const detail::Bytes bytes = detail::read_file(path);
  return read_safetensors_buffer(bytes.data(), bytes.size(), path);
}

/// The .safetensors image of `tensors` (stored contiguously in name order, header padded with
/// spaces to a multiple of 8 bytes like the reference writer). complex128 is not representable.
inline detail::Bytes write_safetensors_buffer(const std::map<std::string, Tensor>& tensors,
                                              const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    detail::require_consistent(t);
    detail::require_format(name != "__metadata__", "<output>", name, "this name is reserved");
    header[name] = {{"dtype", detail::safetensors_dtype_name(t.dtype, "<output>", name)},
                    {"shape", t.shape},
                    {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // e.g. a name that is not valid UTF-8
    throw FormatError(monarch::detail::concat(detail::where("<output>"), "cannot write the header: ", e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  detail::Bytes out;
  out.reserve(8 + text.size() + offset);
  detail::store_le(out, text.size(), 8);
  out.insert(out.end(), text.begin(), text.end());
  for (const auto& kv : tensors) out.insert(out.end(), kv.second.data.begin(), kv.second.data.end());
  return out;
}

/// Writes a .safetensors file (see write_safetensors_buffer).
inline void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  detail::write_file(path, write_safetensors_buffer(tensors, metadata));
}

}  // namespace monarch::io
