#pragma once
// The step journal of one operation: append-only JSON lines, fsync'd, so that after a crash
// (kill -9 included) `status` can tell where the operation stopped and recovery knows what
// to undo. The first line is a version header; readers refuse versions they do not know.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mupgrade::core {

inline constexpr const char* kJournalHeader = "# mupgrade journal v1";

/// One line of the journal.
struct JournalEvent {
  std::string event;  // operation-begin, begin, undo-data, end, undo-begin, undo-end, operation-end
  std::string step;   // empty for operation events
  std::string outcome;  // ok | failed (end, undo-end, operation-end)
  double seconds = 0;   // duration of the step or operation
  nlohmann::json facts = nlohmann::json::object();  // what the step learnt (watermarks, ids)
  std::string at;  // UTC time, ISO 8601
};

class JournalWriter {
public:
  /// Creates the file with its header, or appends to an existing journal of the same version.
  explicit JournalWriter(std::string path);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  /// Writes one line and fsyncs it before returning.
  void append(JournalEvent e);
  const std::string& path() const { return path_; }

private:
  std::string path_;
  int fd_ = -1;
};

/// What a journal says happened to one step.
struct StepRecord {
  std::string name;
  bool begun = false;
  bool ended = false;
  std::string outcome;  // of the end line
  double seconds = 0;
  bool undone = false;  // undo-end ok
  bool undo_failed = false;  // the last undo-end failed: something is left to undo
  nlohmann::json facts = nlohmann::json::object();
  /// What the step journaled for its undo before changing anything (undo-data lines).
  nlohmann::json undo_data = nlohmann::json::object();
};

struct JournalSummary {
  std::string operation;
  nlohmann::json args = nlohmann::json::object();
  std::string started_at;
  bool finished = false;  // operation-end written
  std::string outcome;    // of operation-end
  std::vector<StepRecord> steps;  // in the order they began
  /// The step begun but never ended: where a crash happened.
  std::optional<std::string> interrupted_step() const;
  /// A pointer into this summary: on a temporary it would dangle, so that does not compile.
  const StepRecord* find(const std::string& step) const&;
  const StepRecord* find(const std::string& step) const&& = delete;
};

/// Reads a journal; throws mupgrade::Error naming the file on a bad header or a bad line.
/// A torn last line (a crash mid-write) is ignored.
JournalSummary read_journal(const std::string& path);
JournalSummary parse_journal(const std::string& text, const std::string& name_for_errors);

/// Current UTC time as ISO 8601 with milliseconds.
std::string utc_now_iso();

}  // namespace mupgrade::core
