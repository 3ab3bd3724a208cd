#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "harness/io/csv.hpp"

namespace attn::harness {
namespace {

std::string temp_path(const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("attnbench_csv_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::filesystem::remove(path);
  return path.string();
}

ResultRow sample_row() {
  ResultRow r;
  r.variant = "bigbird";
  r.params = "block=64,window=3,global=2,random=3,seed=7";
  r.batch = 1, r.heads = 8, r.kv_heads = 2, r.seq_len = 4096, r.query_len = 16, r.head_dim = 64;
  r.causal = true;
  r.input = "local";
  r.seed = 42;
  r.scale = 0.125f;
  r.threads = 2;
  r.reps = 5;
  r.time_ms = 12.5, r.time_ms_min = 12.25, r.time_ms_max = 13.75;
  r.pairs = 123456789;
  r.gflops = 98.5;
  r.min_bytes = 4 * (8 * 16 * 64 + 2 * 2 * 4096 * 64 + 8 * 16 * 64);
  r.peak_bytes = 1 << 20, r.rss_delta_bytes = 2 << 20, r.predicted_bytes = 3 << 20;
  r.rel_err = 0.015625, r.max_abs_err = 0.25, r.cos_sim_min = 0.875, r.mass_recall = 0.9375;
  r.accuracy_rows = 256;
  r.status = kStatusOk;
  r.message = "a \"quoted\", comma";
  r.context = {.git_revision = "abc123",
               .cpu = "Some CPU, 2 cores",
               .cpu_vendor = "AuthenticAMD",
               .cpu_family_model = "25/17/1",
               .cpu_uarch = "Zen 4",
               .cpu_isa = "avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_vnni",
               .blas_core = "Haswell",
               .compiler = "GCC 12.2.0",
               .build_type = "Release",
               .host = "node-07"};
  r.timestamp = "2026-11-22T03:04:05Z";
  r.shard = "3/8";
  r.job_id = "4242";
  return r;
}

TEST(Csv, HeaderHasTheDocumentedColumnsInOrder) {
  const std::vector<std::string> expected = {"variant",
                                             "params",
                                             "batch",
                                             "heads",
                                             "kv_heads",
                                             "seq_len",
                                             "query_len",
                                             "head_dim",
                                             "dtype",
                                             "kv_dtype",
                                             "causal",
                                             "shared_qk",
                                             "input",
                                             "seed",
                                             "scale",
                                             "threads",
                                             "decode_steps",
                                             "reps",
                                             "time_ms",
                                             "time_ms_min",
                                             "time_ms_max",
                                             "select_ms",
                                             "pairs",
                                             "gflops",
                                             "min_bytes",
                                             "kv_bytes_per_token",
                                             "peak_bytes",
                                             "rss_delta_bytes",
                                             "predicted_bytes",
                                             "rel_err",
                                             "rel_err_kernel",
                                             "max_abs_err",
                                             "cos_sim_min",
                                             "mass_recall",
                                             "accuracy_rows",
                                             "prefill_ms",
                                             "step_ms_p99",
                                             "cache_bytes",
                                             "rel_err_first",
                                             "rel_err_last",
                                             "mass_recall_first",
                                             "mass_recall_last",
                                             "accuracy_by_step",
                                             "status",
                                             "message",
                                             "git_revision",
                                             "cpu",
                                             "cpu_vendor",
                                             "cpu_family_model",
                                             "cpu_uarch",
                                             "cpu_isa",
                                             "blas_core",
                                             "kernel",
                                             "compiler",
                                             "build_type",
                                             "timestamp",
                                             "host",
                                             "shard",
                                             "job_id"};
  EXPECT_EQ(csv_columns(), expected);
}

TEST(Csv, RowRoundTripsThroughTheParser) {
  const std::string path = temp_path("round_trip.csv");
  ResultRow skipped = sample_row();
  skipped.status = kStatusSkipped;
  skipped.message = "predicted 30 GiB, over the memory limit";
  skipped.reps.reset(), skipped.time_ms.reset(), skipped.gflops.reset(), skipped.rel_err.reset();
  {
    CsvWriter writer(path);
    writer.write(sample_row());
    writer.write(skipped);
  }
  const auto rows = read_results_csv(path);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(csv_line(rows[0]), csv_line(sample_row()));
  EXPECT_EQ(rows[0].message, "a \"quoted\", comma");
  EXPECT_EQ(rows[0].context.cpu, "Some CPU, 2 cores");
  EXPECT_EQ(rows[0].context.cpu_vendor, "AuthenticAMD");
  EXPECT_EQ(rows[0].context.cpu_family_model, "25/17/1");
  EXPECT_EQ(rows[0].context.cpu_uarch, "Zen 4");
  EXPECT_EQ(rows[0].context.cpu_isa, sample_row().context.cpu_isa);
  EXPECT_EQ(rows[0].scale, 0.125f);
  EXPECT_EQ(rows[0].time_ms, 12.5);
  EXPECT_EQ(rows[0].pairs, 123456789);
  EXPECT_EQ(rows[0].kv_heads, 2);
  EXPECT_EQ(rows[0].query_len, 16);
  EXPECT_EQ(rows[0].min_bytes, sample_row().min_bytes);
  EXPECT_TRUE(rows[0].causal);
  EXPECT_EQ(csv_line(rows[1]), csv_line(skipped));
  EXPECT_FALSE(rows[1].time_ms.has_value());
}

TEST(Csv, SessionRowRoundTripsThroughTheParser) {
  const std::string path = temp_path("session_round_trip.csv");
  ResultRow r = sample_row();
  r.query_len = 1, r.decode_steps = 256;
  r.prefill_ms = 22.25, r.step_ms_p99 = 8.5, r.cache_bytes = std::int64_t{544} << 20;
  r.rel_err_first = 0.5, r.rel_err_last = 0.625, r.mass_recall_first = 0.75;
  r.mass_recall_last = 0.5;
  r.accuracy_by_step = "0:0.5:0.75;255:0.625:0.5";
  CsvWriter(path).write(r);
  const auto rows = read_results_csv(path);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(csv_line(rows[0]), csv_line(r));
  EXPECT_EQ(rows[0].decode_steps, 256);
  EXPECT_EQ(rows[0].cache_bytes, std::int64_t{544} << 20);
  EXPECT_EQ(rows[0].rel_err_last, 0.625);
  EXPECT_EQ(rows[0].accuracy_by_step, "0:0.5:0.75;255:0.625:0.5");
}

TEST(Csv, AppendsToAFileWithTheSameHeaderWithoutRepeatingIt) {
  const std::string path = temp_path("append.csv");
  CsvWriter(path).write(sample_row());
  CsvWriter(path).write(sample_row());
  EXPECT_EQ(read_results_csv(path).size(), 2u);
  std::ifstream in(path);
  std::string line;
  int headers = 0;
  while (std::getline(in, line)) headers += line == csv_header_line();
  EXPECT_EQ(headers, 1);
}

TEST(Csv, RefusesToAppendToAFileWithAnotherHeader) {
  const std::string path = temp_path("other.csv");
  std::ofstream(path) << "a,b,c\n1,2,3\n";
  EXPECT_THROW(CsvWriter{path}, std::invalid_argument);
}

TEST(Csv, ReaderNamesTheFileAndLineOfAMalformedRow) {
  const std::string path = temp_path("malformed.csv");
  {
    CsvWriter writer(path);
    writer.write(sample_row());
  }
  std::string bad = csv_line(sample_row());
  bad.replace(bad.find(",4096,16,"), 9, ",40x6,16,");
  std::ofstream(path, std::ios::app) << bad << "\n";
  try {
    read_results_csv(path);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("line 3"), std::string::npos) << m;
    EXPECT_NE(m.find("seq_len"), std::string::npos) << m;
  }
}

// A file from before the select_ms column (serving shapes) reads with select_ms empty, and a
// row with it written and read again keeps it.
TEST(Csv, ReadsAFileFromBeforeTheSelectionColumn) {
  ResultRow r = sample_row();
  r.select_ms = 1.25;
  std::string header = csv_header_line(), line = csv_line(r);
  const auto again = parse_results_csv(header + "\n" + line + "\n", "new.csv");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].select_ms, 1.25);
  // The same file without the column: drop the header's name and the row's field.
  header.replace(header.find(",select_ms,"), 11, ",");
  const std::string fixed_row = csv_line(sample_row());
  const std::string time_max = ",13.75,";
  std::string old_row = fixed_row;
  old_row.replace(old_row.find(time_max + ","), time_max.size() + 1, time_max);
  const auto rows = parse_results_csv(header + "\n" + old_row + "\n", "old.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_FALSE(rows[0].select_ms.has_value());
  EXPECT_EQ(csv_line(rows[0]), fixed_row);
}

// A row of results/reference/reference.csv as round 1 wrote it, before kv_heads, query_len and
// min_bytes.
constexpr const char* kSquareEraHeader =
    "variant,params,batch,heads,seq_len,head_dim,causal,shared_qk,input,seed,scale,threads,reps,"
    "time_ms,time_ms_min,time_ms_max,pairs,gflops,peak_bytes,rss_delta_bytes,predicted_bytes,"
    "rel_err,max_abs_err,cos_sim_min,mass_recall,accuracy_rows,status,message,git_revision,cpu,"
    "blas_core,compiler,build_type,timestamp";
constexpr const char* kSquareEraRow =
    "dense,,1,8,1024,64,false,false,gaussian,0,0.125,2,3,32.7816,32.7709,32.8047,8388608,65.5088,"
    "8396672,8343552,8388608,6.16889e-07,3.20606e-07,1,1,256,ok,,9b95fbd28e7e-dirty,AMD EPYC,Zen,"
    "GCC 12.2.0,Release,2026-11-22T09:48:05Z";

TEST(Csv, ReadsAFileFromBeforeTheServingColumnsAsSquarePoints) {
  const std::string text = std::string(kSquareEraHeader) + "\n" + kSquareEraRow + "\n";
  const auto rows = parse_results_csv(text, "old.csv");
  ASSERT_EQ(rows.size(), 1u);
  const ResultRow& r = rows[0];
  EXPECT_EQ(r.heads, 8);
  EXPECT_EQ(r.kv_heads, 8);
  EXPECT_EQ(r.seq_len, 1024);
  EXPECT_EQ(r.query_len, 1024);
  EXPECT_EQ(r.head_dim, 64);
  EXPECT_FALSE(r.min_bytes.has_value());
  EXPECT_EQ(r.pairs, 8388608);
  EXPECT_EQ(r.timestamp, "2026-11-22T09:48:05Z");
  EXPECT_TRUE(r.square());
  // Written again it is a current row: the serving columns filled, min_bytes empty.
  const std::string line = csv_line(r);
  EXPECT_EQ(line.substr(0, line.find(",false,")), "dense,,1,8,8,1024,1024,64,fp32,fp32");
  EXPECT_NE(line.find(",65.5088,,,8396672,"), std::string::npos) << line;
  const auto again = parse_results_csv(csv_header_line() + "\n" + line + "\n", "new.csv");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(csv_line(again[0]), line);

  // Malformed rows are described against the old header's 34 columns.
  try {
    parse_results_csv(std::string(kSquareEraHeader) + "\ndense,,1,8,1024\n", "short.csv");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("5 fields where the header has 34; column 6 (head_dim)"), std::string::npos)
        << m;
  }
  // A torn header of either layout is an empty file.
  EXPECT_TRUE(parse_results_csv(std::string(kSquareEraHeader).substr(0, 40), "torn.csv").empty());
}

// A row as the serving-shapes round wrote it, before dtype, rel_err_kernel and kernel.
std::string fp32_era(const std::string& line) {
  // Drops the fields of the three precision columns from a current line or header.
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (char c : line + ",") {
    if (c == '"') quoted = !quoted;
    if (c != ',' || quoted) {
      field += c;
      continue;
    }
    fields.push_back(field);
    field.clear();
  }
  const std::vector<std::string> names = csv_columns();
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (names[i] != "dtype" && names[i] != "rel_err_kernel" && names[i] != "kernel")
      out += (out.empty() ? "" : ",") + fields[i];
  return out;
}

TEST(Csv, ReadsAFileFromBeforeThePrecisionColumnsAsFp32) {
  ResultRow written = sample_row();
  written.dtype = "fp32";
  written.rel_err_kernel.reset();
  written.kernel.clear();
  const std::string text = fp32_era(csv_header_line()) + "\n" + fp32_era(csv_line(written)) + "\n";
  ASSERT_EQ(
      std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(text.find('\n')), ','),
      static_cast<std::ptrdiff_t>(csv_columns().size()) - 4);
  const auto rows = parse_results_csv(text, "serving.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].dtype, "fp32");
  EXPECT_FALSE(rows[0].rel_err_kernel.has_value());
  EXPECT_EQ(rows[0].kernel, "");
  EXPECT_EQ(csv_line(rows[0]), csv_line(written));
  // Appending to it is refused with the command that converts it.
  const std::string path = temp_path("serving.csv");
  std::ofstream(path) << text;
  try {
    CsvWriter writer(path);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the precision columns (dtype, rel_err_kernel, kernel)"),
              std::string::npos)
        << e.what();
  }
}

// The same file after the serving columns, before the sharding columns (host, shard, job_id).
TEST(Csv, ReadsAFileFromBeforeTheShardingColumnsWithThemEmpty) {
  std::string header = csv_header_line();
  header.erase(header.find(",host,shard,job_id"));
  ResultRow row = sample_row();
  std::string line = csv_line(row);
  line.erase(line.find(",node-07,3/8,4242"));
  const auto rows = parse_results_csv(header + "\n" + line + "\n", "unsharded.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].context.host, "");
  EXPECT_EQ(rows[0].shard, "");
  EXPECT_EQ(rows[0].job_id, "");
  EXPECT_EQ(rows[0].kv_heads, 2);  // the serving columns are read, not defaulted
  EXPECT_EQ(rows[0].query_len, 16);
  EXPECT_EQ(rows[0].timestamp, row.timestamp);
  row.context.host.clear(), row.shard.clear(), row.job_id.clear();
  EXPECT_EQ(csv_line(rows[0]), csv_line(row));

  const std::string path = temp_path("unsharded.csv");
  std::ofstream(path) << header << "\n" << line << "\n";
  try {
    CsvWriter writer(path);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("the sharding columns (host, shard, job_id)"), std::string::npos) << m;
    EXPECT_NE(m.find("attnbench merge " + path + " --out NEW.csv"), std::string::npos) << m;
  }
}

// A file from before the CPU identity columns, such as results/reference/default.csv: they read
// as empty, the rest as written, and the writer refuses to append, naming them.
TEST(Csv, ReadsAFileFromBeforeTheCpuIdentityColumnsWithThemEmpty) {
  const std::string identity_names = ",cpu_vendor,cpu_family_model,cpu_uarch,cpu_isa";
  std::string header = csv_header_line();
  header.erase(header.find(identity_names), identity_names.size());
  ResultRow row = sample_row();
  const MachineContext& c = row.context;
  const std::string identity_fields =
      "," + c.cpu_vendor + "," + c.cpu_family_model + "," + c.cpu_uarch + "," + c.cpu_isa;
  std::string line = csv_line(row);
  ASSERT_NE(line.find(identity_fields), std::string::npos) << line;
  line.erase(line.find(identity_fields), identity_fields.size());
  const auto rows = parse_results_csv(header + "\n" + line + "\n", "before_cpu_identity.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].context.cpu, "Some CPU, 2 cores");
  EXPECT_EQ(rows[0].context.cpu_vendor, "");
  EXPECT_EQ(rows[0].context.cpu_family_model, "");
  EXPECT_EQ(rows[0].context.cpu_uarch, "");
  EXPECT_EQ(rows[0].context.cpu_isa, "");
  EXPECT_EQ(rows[0].context.blas_core, "Haswell");  // the columns after them keep their places
  EXPECT_EQ(rows[0].kernel, row.kernel);
  EXPECT_EQ(rows[0].context.host, "node-07");
  row.context.cpu_vendor.clear(), row.context.cpu_family_model.clear();
  row.context.cpu_uarch.clear(), row.context.cpu_isa.clear();
  EXPECT_EQ(csv_line(rows[0]), csv_line(row));

  const std::string path = temp_path("before_cpu_identity.csv");
  std::ofstream(path) << header << "\n" << line << "\n";
  try {
    CsvWriter writer(path);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("the CPU identity columns (cpu_vendor, cpu_family_model, cpu_uarch, cpu_isa)"),
              std::string::npos)
        << m;
  }
}

TEST(Csv, OnlyWholeGroupsOfAddedColumnsMayBeMissing) {
  // Without just one column of a group the file is no layout the suite ever wrote.
  for (const std::string column : {",kv_heads", ",query_len", ",min_bytes", ",host", ",shard",
                                   ",job_id", ",dtype", ",rel_err_kernel", ",kernel", ",cpu_vendor",
                                   ",cpu_family_model", ",cpu_uarch", ",cpu_isa"}) {
    std::string header = csv_header_line();
    header.erase(header.find(column), column.size());
    try {
      parse_results_csv(header + "\n", "partial.csv");
      ADD_FAILURE() << "accepted a header without " << column;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("missing " + column.substr(1)), std::string::npos)
          << e.what();
    }
  }
}

TEST(Csv, WriterRefusesToAppendToAnOldFileAndSaysHowToConvertIt) {
  const std::string path = temp_path("old.csv");
  const std::string text = std::string(kSquareEraHeader) + "\n" + kSquareEraRow + "\n";
  std::ofstream(path) << text;
  try {
    CsvWriter writer(path);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("missing kv_heads, query_len, dtype, kv_dtype, decode_steps, select_ms, "
                     "min_bytes, kv_bytes_per_token, rel_err_kernel"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("cpu_vendor, cpu_family_model, cpu_uarch, cpu_isa, kernel"), std::string::npos)
        << m;
    EXPECT_NE(m.find("attnbench merge " + path + " --out NEW.csv"), std::string::npos) << m;
  }
  std::ifstream in(path);
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, text);
}

}  // namespace
}  // namespace attn::harness
