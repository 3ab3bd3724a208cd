#include <gtest/gtest.h>

#include "attention/core/params.hpp"
#include "attention/core/registry.hpp"

namespace attn {
namespace {

const ParamSchema kSchema = {
    {"left", ParamKind::kInteger, 256, 0, 1 << 20, "keys before"},
    {"ratio", ParamKind::kReal, 0.5, 0, 1, "a share"},
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no exception";
}

TEST(SpecSplit, NameOnlyAndWithParams) {
  EXPECT_EQ(split_spec("dense").name, "dense");
  EXPECT_TRUE(split_spec("dense:").assignments.empty());
  const SpecText t = split_spec(" sliding_window : left = 128 , right=0 ");
  EXPECT_EQ(t.name, "sliding_window");
  ASSERT_EQ(t.assignments.size(), 2u);
  EXPECT_EQ(t.assignments[0], (std::pair<std::string, std::string>{"left", "128"}));
  EXPECT_EQ(t.assignments[1], (std::pair<std::string, std::string>{"right", "0"}));
}

TEST(SpecSplit, RejectsMalformedSpecs) {
  EXPECT_NE(message_of([] { split_spec(""); }).find("expected a variant name"), std::string::npos);
  EXPECT_NE(message_of([] { split_spec(":left=1"); }).find("expected a variant name"),
            std::string::npos);
  EXPECT_NE(message_of([] { split_spec("w:left"); }).find("'left' is not of the form key=value"),
            std::string::npos);
  EXPECT_NE(message_of([] { split_spec("w:left="); }).find("key=value"), std::string::npos);
  EXPECT_NE(message_of([] { split_spec("w:=3"); }).find("key=value"), std::string::npos);
  EXPECT_NE(message_of([] { split_spec("w:left=1,,right=2"); }).find("key=value"),
            std::string::npos);
  EXPECT_NE(message_of([] { split_spec("w:left=1,left=2"); }).find("'left' is given twice"),
            std::string::npos);
}

TEST(VariantConfig, DefaultsAndCanonicalForm) {
  const VariantConfig c("w", kSchema, {});
  EXPECT_EQ(c.integer("left"), 256);
  EXPECT_EQ(c.real("ratio"), 0.5);
  EXPECT_EQ(c.canonical_params(), "left=256,ratio=0.5");
  EXPECT_EQ(c.spec(), "w:left=256,ratio=0.5");
}

TEST(VariantConfig, RoundTripsThroughTheParser) {
  const VariantConfig c("w", kSchema, {{"ratio", "0.1"}, {"left", "7"}});
  const SpecText again = split_spec(c.spec());
  const VariantConfig d(again.name, kSchema, again.assignments);
  EXPECT_EQ(d.spec(), c.spec());
  EXPECT_EQ(d.real("ratio"), 0.1);
  EXPECT_EQ(d.integer("left"), 7);
}

TEST(VariantConfig, RejectsUnknownKeysNamingTheAllowedOnes) {
  const std::string m = message_of([] { VariantConfig("w", kSchema, {{"size", "1"}}); });
  EXPECT_NE(m.find("variant 'w' has no parameter 'size'"), std::string::npos) << m;
  EXPECT_NE(m.find("allowed: left, ratio"), std::string::npos) << m;
  const std::string none = message_of([] { VariantConfig("d", {}, {{"x", "1"}}); });
  EXPECT_NE(none.find("takes no parameters"), std::string::npos) << none;
}

TEST(VariantConfig, RejectsBadValuesNamingTheRange) {
  for (const char* bad : {"abc", "1.5", "-1", "2000000", "1e3", " ", "0x10"}) {
    const std::string m = message_of([&] { VariantConfig("w", kSchema, {{"left", bad}}); });
    EXPECT_NE(m.find("parameter 'left' must be an integer in [0, 1048576]"), std::string::npos)
        << bad << ": " << m;
  }
  for (const char* bad : {"1.5", "-0.1", "nan", "inf", "x"}) {
    const std::string m = message_of([&] { VariantConfig("w", kSchema, {{"ratio", bad}}); });
    EXPECT_NE(m.find("parameter 'ratio' must be a number in [0, 1]"), std::string::npos)
        << bad << ": " << m;
  }
}

TEST(VariantConfig, ReadingAnUndeclaredKeyIsAProgrammingError) {
  const VariantConfig c("w", kSchema, {});
  EXPECT_THROW(c.integer("nope"), std::logic_error);
}

TEST(Registry, RejectsDuplicateNames) {
  EXPECT_THROW(Registry::instance().add({"dense", "", {}}, nullptr), std::logic_error);
}

}  // namespace
}  // namespace attn
