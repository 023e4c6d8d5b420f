// monarch::io: .safetensors files (Hugging Face).
//
// Layout: N as an 8-byte little-endian unsigned integer, then N bytes of UTF-8 JSON, then the
// byte buffer. The JSON maps each tensor name to
// {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} with offsets relative to the
// byte buffer; an optional "__metadata__" maps strings to strings.
// Supported dtypes: F32, F64, C64 (complex64), and BF16 / F16, which are kept as stored and
// decoded exactly to float when converted (values(), to_matrix(), ...). Everything else is
// rejected with FormatError.
// The header is streamed through nlohmann-json's SAX parser and checked against the layout as it
// goes, without building a document tree: a bad header is rejected at its first departure, and
// memory stays proportional to what a valid header declares. Limits: N at most 100 MB (as in the
// reference implementation), nothing nested deeper than the layout's 3 levels, at most 100,000
// entries (tensors plus metadata pairs), at most kMaxRank extents per shape.
// Validation: N within the file, a JSON object with no duplicate keys, every entry with exactly a
// known dtype, a shape of non-negative integers and two offsets with begin <= end <= buffer size
// and end - begin == numel * itemsize (overflow-checked), and no two tensors overlapping. Gaps
// between tensors and trailing bytes are tolerated. The writers refuse what the reader rejects.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/bytes.hpp"
#include "format_error.hpp"
#include "tensor.hpp"

namespace monarch::io {

/// One tensor of a .safetensors header: its dtype, shape and byte range, without the bytes.
struct SafetensorsEntry {
  DType dtype = DType::float32;
  std::vector<Index> shape;
  std::size_t begin = 0, end = 0;  ///< byte range within the buffer that follows the header
};

namespace detail {

/// Longest header accepted or written, as in the reference implementation.
inline constexpr std::size_t kMaxSafetensorsHeader = 100'000'000;
/// Most top-level entries (tensors plus metadata pairs) accepted or written: bounds what a header
/// can make the reader allocate, far above real checkpoints (hundreds to thousands of tensors).
inline constexpr std::size_t kMaxSafetensorsEntries = 100'000;
/// The layout nests three levels, {name: {field: [integers]}}; nothing may nest deeper.
inline constexpr int kMaxSafetensorsDepth = 3;

/// FormatError naming `name` and listing (the first few of) the names in `tensors`.
template <class Map>
[[noreturn]] void throw_no_such_tensor(std::string_view source, const std::string& name, const Map& tensors) {
  constexpr std::size_t kListed = 16;
  std::string names;
  std::size_t listed = 0;
  for (const auto& kv : tensors) {
    if (listed++ == kListed) {
      names += ", ... (" + std::to_string(tensors.size()) + " in all)";
      break;
    }
    names += (names.empty() ? "'" : ", '") + kv.first + "'";
  }
  throw FormatError(monarch::detail::concat(where(source, name), "no such tensor; the file holds ",
                                            names.empty() ? std::string("no tensors") : names));
}

/// The limits a header must respect, shared by the reader and the writer.
inline void require_header_length(std::uint64_t n, std::string_view source) {
  require_format(n <= kMaxSafetensorsHeader, source, {}, "header length ", n, " exceeds the limit of ",
                 kMaxSafetensorsHeader, " bytes");
}
inline void require_entry_count(std::size_t n, std::string_view source) {
  require_format(n <= kMaxSafetensorsEntries, source, {}, "header has more than ", kMaxSafetensorsEntries,
                 " entries (tensors plus metadata pairs; the limit)");
}

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

/// A validated header: the entries by name and the metadata.
struct SafetensorsHeader {
  std::map<std::string, SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
};

/// The SAX handler (nlohmann::json::sax_parse's interface) that checks the header against the
/// layout while the JSON streams in, and throws FormatError at the first departure: a value of the
/// wrong kind, a container nested deeper than the layout, more entries or extents than the limits,
/// a duplicate key, offsets outside the buffer of `buffer_size` bytes or not matching the shape.
class SafetensorsHeaderParser {
 public:
  using json = nlohmann::json;

  SafetensorsHeaderParser(std::string_view source, std::size_t buffer_size)
      : source_(source), buffer_size_(buffer_size) {}

  SafetensorsHeader parse(std::string_view text) {
    const bool ok = json::sax_parse(text.begin(), text.end(), this);
    require_format(ok, source_, {}, "header is not valid JSON");  // every handler throws instead
    require_no_overlap();
    return std::move(header_);
  }

  bool null() { unexpected("null", "null"); }
  bool boolean(bool b) { unexpected("boolean", b ? "true" : "false"); }
  bool number_integer(json::number_integer_t v) { unexpected("number", std::to_string(v)); }
  bool number_float(json::number_float_t, const json::string_t& token) {
    unexpected("number", std::string_view(token).substr(0, 64));  // the token may be megabytes of digits
  }
  bool binary(json::binary_t&) { unexpected("binary", "binary data"); }
  bool number_unsigned(json::number_unsigned_t v) {
    if (depth_ != 3 || v > static_cast<std::uint64_t>(PTRDIFF_MAX)) unexpected("number", std::to_string(v));
    if (field_ == Field::shape) {
      require_rank(entry_.shape.size() + 1, source_, name_);
      entry_.shape.push_back(static_cast<Index>(v));
    } else {
      require_format(offsets_ < 2, source_, name_, "'data_offsets' must be an array [begin, end]");
      (offsets_++ == 0 ? entry_.begin : entry_.end) = static_cast<std::size_t>(v);
    }
    return true;
  }
  bool string(json::string_t& s) {
    if (depth_ == 2 && metadata_) {
      header_.metadata[key_] = std::move(s);
    } else if (depth_ == 2 && field_ == Field::dtype) {
      entry_.dtype = safetensors_dtype(s, source_, name_);
    } else {
      const bool cut = s.size() > 64;  // a message quotes at most 64 bytes of a string
      unexpected("string", monarch::detail::concat('"', s.substr(0, 64), cut ? "..." : "", '"'));
    }
    return true;
  }
  bool start_object(std::size_t) {
    if (depth_ > 1) nested("object");
    if (depth_ == 1 && !metadata_) {  // a new entry
      entry_ = SafetensorsEntry{};
      field_ = Field::none;
      seen_[0] = seen_[1] = seen_[2] = false;
      offsets_ = 0;
    }
    ++depth_;
    return true;
  }
  bool key(json::string_t& k) {
    if (depth_ == 1) {
      metadata_ = k == "__metadata__";
      require_format(metadata_ ? !has_metadata_ : header_.entries.count(k) == 0, source_, {}, "header has the key '",
                     k, "' more than once");
      has_metadata_ = has_metadata_ || metadata_;
      if (!metadata_) require_entry_count(++entries_, source_);
      name_ = std::move(k);
    } else if (metadata_) {
      require_format(header_.metadata.count(k) == 0, source_, {}, "header has the key '", k, "' more than once");
      require_entry_count(++entries_, source_);
      key_ = std::move(k);
    } else {
      field_ = k == "dtype" ? Field::dtype : k == "shape" ? Field::shape : k == "data_offsets" ? Field::data_offsets
                                                                                             : Field::none;
      require_format(field_ != Field::none, source_, name_, "unexpected field '", k,
                     "', expected only 'dtype', 'shape', 'data_offsets'");
      bool& seen = seen_[static_cast<int>(field_)];
      require_format(!seen, source_, name_, "the entry has the key '", k, "' more than once");
      seen = true;
    }
    return true;
  }
  bool end_object() {
    if (depth_ == 2 && !metadata_) finish_entry();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) {
    if (depth_ != 2 || metadata_ || field_ == Field::dtype) nested("array");
    ++depth_;
    return true;
  }
  bool end_array() {
    require_format(field_ != Field::data_offsets || offsets_ == 2, source_, name_,
                   "'data_offsets' must be an array [begin, end]");
    --depth_;
    return true;
  }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& e) {
    // nlohmann quotes the token it stopped in, which can be megabytes long: keep the start.
    const std::string_view what = e.what();
    throw FormatError(monarch::detail::concat(where(source_), "header is not valid JSON: ", what.substr(0, 200),
                                              what.size() > 200 ? "..." : ""));
  }

 private:
  enum class Field { dtype, shape, data_offsets, none };

  /// A value the layout does not allow where it stands: the message says what was expected there.
  [[noreturn]] void unexpected(std::string_view type, std::string_view brief) const {
    if (depth_ == 0) fail({}, "header must be a JSON object, given ", type);
    if (depth_ == 1 && metadata_) fail({}, "'__metadata__' must be an object of strings");
    if (depth_ == 1) fail(name_, "entry must be an object, given ", brief);
    if (metadata_) fail({}, "'__metadata__' value of '", key_, "' must be a string, given ", brief);
    if (depth_ == 2 && field_ == Field::dtype) fail(name_, "'dtype' must be a string");
    if (depth_ == 2 && field_ == Field::shape) fail(name_, "'shape' must be an array");
    if (depth_ == 2) fail(name_, "'data_offsets' must be an array [begin, end]");
    fail(name_, "'", field_ == Field::shape ? "shape" : "data_offsets", "' must hold non-negative integers, given ",
         brief);
  }
  /// A container where the layout has a scalar: past its depth, the one message for every path.
  [[noreturn]] void nested(const char* type) const {
    if (depth_ >= kMaxSafetensorsDepth)
      fail(name_, "the header nests more than ", kMaxSafetensorsDepth,
           " levels deep; the layout is {name: {field: [integers]}}");
    unexpected(type, monarch::detail::concat("a JSON ", type));
  }
  template <class... Parts>
  [[noreturn]] void fail(std::string_view tensor, Parts&&... parts) const {
    throw FormatError(monarch::detail::concat(where(source_, tensor), std::forward<Parts>(parts)...));
  }

  /// The entry just closed: every field present, the shape valid, the offsets inside the buffer
  /// and spanning exactly the shape's bytes.
  void finish_entry() {
    require_format(seen_[0], source_, name_, "'dtype' must be a string");
    require_format(seen_[1], source_, name_, "'shape' must be an array");
    require_format(seen_[2], source_, name_, "'data_offsets' must be an array [begin, end]");
    const std::size_t nbytes = checked_nbytes(entry_.shape, entry_.dtype, source_, name_);
    const std::size_t begin = entry_.begin, end = entry_.end;
    require_format(begin <= end && end <= buffer_size_, source_, name_, "data_offsets [", begin, ", ", end,
                   "] outside the byte buffer [0, ", buffer_size_, "]");
    require_format(end - begin == nbytes, source_, name_, "data_offsets [", begin, ", ", end, "] span ", end - begin,
                   " bytes, expected ", nbytes, " for ", dtype_name(entry_.dtype), " ", ShapeText{entry_.shape});
    header_.entries.emplace(name_, std::move(entry_));
  }

  void require_no_overlap() const {
    std::vector<std::pair<const std::string*, const SafetensorsEntry*>> by_offset;
    by_offset.reserve(header_.entries.size());
    for (const auto& kv : header_.entries) by_offset.emplace_back(&kv.first, &kv.second);
    std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
      return a.second->begin != b.second->begin ? a.second->begin < b.second->begin : a.second->end < b.second->end;
    });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
      const SafetensorsEntry &prev = *by_offset[i - 1].second, &cur = *by_offset[i].second;
      require_format(cur.begin >= prev.end, source_, *by_offset[i].first, "data_offsets [", cur.begin, ", ", cur.end,
                     "] overlap those of tensor '", *by_offset[i - 1].first, "' [", prev.begin, ", ", prev.end, "]");
    }
  }

  std::string_view source_;
  std::size_t buffer_size_;
  SafetensorsHeader header_;
  int depth_ = 0;          // containers open: 1 in the root object, 2 in an entry, 3 in its array
  bool metadata_ = false;  // the current root key is "__metadata__"
  bool has_metadata_ = false;
  std::size_t entries_ = 0;
  std::string name_;  // the current root key (tensor name)
  std::string key_;   // the current metadata key
  SafetensorsEntry entry_;
  Field field_ = Field::none;
  bool seen_[3] = {false, false, false};  // dtype, shape, data_offsets seen in the current entry
  int offsets_ = 0;                       // data_offsets values seen
};

/// N from the 8-byte length prefix at p of a file of `size` bytes, checked against the size and
/// the limit. Reads p only when size >= 8.
inline std::size_t safetensors_header_length(const std::uint8_t* p, std::size_t size, std::string_view source) {
  require_format(size >= 8, source, {}, "file has ", size, " bytes, shorter than the 8-byte header length");
  const std::uint64_t n = load_le(p, 8);
  require_format(n <= size - 8, source, {}, "header length ", n, " runs past the end of the file (", size - 8,
                 " bytes follow the length)");
  require_header_length(n, source);
  return static_cast<std::size_t>(n);
}

/// A tensor of entry `e` with its data sized but not yet filled.
inline Tensor unfilled_tensor(const std::string& name, const SafetensorsEntry& e, const std::string& source) {
  Tensor t;
  t.dtype = e.dtype;
  t.shape = e.shape;
  t.name = name;
  t.source = source;
  t.data.resize(e.end - e.begin);
  return t;
}

}  // namespace detail

/// The tensors (by name) and the free-form string metadata of a .safetensors file.
struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string source;  ///< path or "<buffer>", for messages

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  /// The tensor called `name`; FormatError listing the names present otherwise.
  const Tensor& at(const std::string& name) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) detail::throw_no_such_tensor(source, name, tensors);
    return it->second;
  }
};

/// Parses a .safetensors image held in memory; `source` names it in messages. FormatError for
/// anything malformed; never reads outside [data, data + size).
inline SafetensorsFile read_safetensors_buffer(const void* data, std::size_t size, std::string source = "<buffer>") {
  const auto* p = static_cast<const std::uint8_t*>(data);
  const std::size_t n = detail::safetensors_header_length(p, size, source);
  const std::string_view text(reinterpret_cast<const char*>(p + 8), n);
  detail::SafetensorsHeader h = detail::SafetensorsHeaderParser(source, size - 8 - n).parse(text);
  const std::uint8_t* buffer = p + 8 + n;
  SafetensorsFile file;
  for (const auto& [name, e] : h.entries) {
    Tensor t = detail::unfilled_tensor(name, e, source);
    if (!t.data.empty()) std::memcpy(t.data.data(), buffer + e.begin, t.data.size());
    file.tensors.emplace(name, std::move(t));
  }
  file.metadata = std::move(h.metadata);
  file.source = std::move(source);
  return file;
}

/// A .safetensors file opened for reading tensor by tensor: the constructor reads and validates
/// only the header, read(name) then reads only that tensor's bytes, so that loading one layer of
/// a large file does not read the rest. Copies share the open file: do not read through readers
/// of one file from several threads at once.
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::string& path) : file_(path) {
    std::uint8_t prefix[8] = {};
    file_.read(0, std::min<std::size_t>(8, file_.size()), prefix);
    const std::size_t n = detail::safetensors_header_length(prefix, file_.size(), path);
    std::string text(n, '\0');
    file_.read(8, n, reinterpret_cast<std::uint8_t*>(text.data()));
    header_ = detail::SafetensorsHeaderParser(path, file_.size() - 8 - n).parse(text);
    data_offset_ = 8 + n;
  }

  const std::string& source() const { return file_.path(); }
  /// Every tensor's dtype, shape and byte range, by name.
  const std::map<std::string, SafetensorsEntry>& entries() const { return header_.entries; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  bool contains(const std::string& name) const { return header_.entries.count(name) != 0; }

  /// The tensor called `name`, reading only its bytes; FormatError listing the names present if
  /// there is none, or if the file can no longer be read.
  Tensor read(const std::string& name) const {
    const auto it = header_.entries.find(name);
    if (it == header_.entries.end()) detail::throw_no_such_tensor(source(), name, header_.entries);
    Tensor t = detail::unfilled_tensor(name, it->second, source());
    file_.read(data_offset_ + it->second.begin, t.data.size(), t.data.data());
    return t;
  }

 private:
  detail::InputFile file_;
  detail::SafetensorsHeader header_;
  std::size_t data_offset_ = 0;
};

/// Reads a .safetensors file.
inline SafetensorsFile read_safetensors(const std::string& path) {
  const SafetensorsReader reader(path);
  SafetensorsFile file;
  for (const auto& kv : reader.entries()) file.tensors.emplace(kv.first, reader.read(kv.first));
  file.metadata = reader.metadata();
  file.source = path;
  return file;
}

/// The .safetensors image of `tensors` (stored contiguously in name order, header padded with
/// spaces to a multiple of 8 bytes like the reference writer). complex128 is not representable;
/// neither is anything the reader would reject (see the limits above).
inline detail::Bytes write_safetensors_buffer(const std::map<std::string, Tensor>& tensors,
                                              const std::map<std::string, std::string>& metadata = {}) {
  detail::require_entry_count(tensors.size() + metadata.size(), "<output>");
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
  detail::require_header_length(text.size(), "<output>");
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
