#include "harness/io/cpu_identity.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "harness/cli/commands.hpp"
#include "harness/io/machine.hpp"

namespace attn::harness {
namespace {

// /proc/cpuinfo of the suite's 2-vCPU AMD EPYC Zen 3 guest, as read: the hypervisor names the
// model only "AMD EPYC". Its first processor and the start of the second.
constexpr const char* kEpycZen3Guest =
    "processor\t: 0\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 25\n"
    "model\t\t: 1\n"
    "model name\t: AMD EPYC\n"
    "stepping\t: 1\n"
    "microcode\t: 0x1000065\n"
    "cpu MHz\t\t: 2445.428\n"
    "cache size\t: 512 KB\n"
    "physical id\t: 0\n"
    "siblings\t: 2\n"
    "core id\t\t: 0\n"
    "cpu cores\t: 2\n"
    "apicid\t\t: 0\n"
    "initial apicid\t: 0\n"
    "fpu\t\t: yes\n"
    "fpu_exception\t: yes\n"
    "cpuid level\t: 13\n"
    "wp\t\t: yes\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
    "clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc "
    "rep_good nopl xtopology nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq "
    "ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx "
    "f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse "
    "3dnowprefetch osvw topoext cpuid_fault vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 "
    "erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves "
    "clzero xsaveerptr arat umip vaes vpclmulqdq rdpid fsrm\n"
    "bugs\t\t: sysret_ss_attrs null_seg spectre_v1 spectre_v2 spec_store_bypass srso "
    "spectre_v2_user tsa\n"
    "bogomips\t: 4890.85\n"
    "TLB size\t: 2560 4K pages\n"
    "clflush size\t: 64\n"
    "cache_alignment\t: 64\n"
    "address sizes\t: 48 bits physical, 48 bits virtual\n"
    "power management:\n"
    "\n"
    "processor\t: 1\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 25\n"
    "model\t\t: 1\n"
    "model name\t: AMD EPYC\n"
    "stepping\t: 1\n";

// The first processor of an AMD EPYC 9654 (Genoa, family 0x19 model 0x11) on bare metal, in the
// kernel's layout; lines that say nothing of the identity are left out.
constexpr const char* kEpycZen4 =
    "processor\t: 0\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 25\n"
    "model\t\t: 17\n"
    "model name\t: AMD EPYC 9654 96-Core Processor\n"
    "stepping\t: 1\n"
    "microcode\t: 0xa10113e\n"
    "cpuid level\t: 16\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
    "clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc "
    "rep_good amd_lbr_v2 nopl nonstop_tsc cpuid extd_apicid aperfmperf rapl pni pclmulqdq "
    "monitor ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand "
    "lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw ibs "
    "skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb cat_l3 "
    "cdp_l3 invpcid_single hw_pstate ssbd mba perfmon_v2 ibrs ibpb stibp vmmcall fsgsbase "
    "bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq rdseed adx smap avx512ifma "
    "clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc "
    "cqm_occup_llc cqm_mbm_total cqm_mbm_local avx512_bf16 clzero irperf xsaveerptr rdpru "
    "wbnoinvd amd_ppin cppc arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean "
    "flushbyasid decodeassists pausefilter pfthreshold avic v_vmsave_vmload vgif x2avic "
    "v_spec_ctrl vnmi avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq "
    "avx512_vnni avx512_bitalg avx512_vpopcntdq la57 rdpid overflow_recov succor smca fsrm "
    "flush_l1d\n"
    "bugs\t\t: sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass srso\n"
    "address sizes\t: 52 bits physical, 57 bits virtual\n"
    "\n";

// An AMD EPYC 9005 (Turin, family 0x1A model 0x02) guest that, like the Zen 3 one, is named only
// "AMD EPYC"; first processor, identity lines.
constexpr const char* kEpycZen5Guest =
    "processor\t: 0\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 26\n"
    "model\t\t: 2\n"
    "model name\t: AMD EPYC\n"
    "stepping\t: 1\n"
    "cpuid level\t: 16\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
    "clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc "
    "rep_good nopl xtopology nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq "
    "ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx "
    "f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse "
    "3dnowprefetch osvw topoext perfctr_core ssbd ibrs ibpb stibp vmmcall fsgsbase "
    "tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap avx512ifma "
    "clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves "
    "avx_vnni avx512_bf16 clzero xsaveerptr rdpru wbnoinvd arat avx512vbmi umip pku ospke "
    "avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq la57 rdpid "
    "movdiri movdir64b fsrm avx512_vp2intersect flush_l1d\n"
    "address sizes\t: 52 bits physical, 57 bits virtual\n"
    "\n";

// The first processor of an Intel Xeon Platinum 8480+ (Sapphire Rapids, family 6 model 0x8F) on
// bare metal, with its AMX tiles; identity lines.
constexpr const char* kSapphireRapids =
    "processor       : 0\n"
    "vendor_id       : GenuineIntel\n"
    "cpu family      : 6\n"
    "model           : 143\n"
    "model name      : Intel(R) Xeon(R) Platinum 8480+\n"
    "stepping        : 8\n"
    "cpuid level     : 32\n"
    "flags           : fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat "
    "pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm "
    "constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid "
    "aperfmperf tsc_known_freq pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg "
    "fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes "
    "xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 cat_l2 cdp_l3 "
    "invpcid_single intel_ppin cdp_l2 ssbd mba ibrs ibpb stibp ibrs_enhanced tpr_shadow "
    "flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid cqm "
    "rdt_a avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb intel_pt avx512cd "
    "sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc "
    "cqm_mbm_total cqm_mbm_local split_lock_detect avx_vnni avx512_bf16 wbnoinvd dtherm ida "
    "arat pln pts hwp hwp_act_window hwp_epp hwp_pkg_req vnmi avx512vbmi umip pku ospke "
    "waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg tme "
    "avx512_vpopcntdq la57 rdpid bus_lock_detect cldemote movdiri movdir64b enqcmd fsrm "
    "md_clear serialize tsxldtrk pconfig arch_lbr ibt amx_bf16 avx512_fp16 amx_tile amx_int8 "
    "flush_l1d arch_capabilities\n"
    "vmx flags       : vnmi preemption_timer posted_intr invvpid ept_x_only ept_ad ept_1gb\n"
    "address sizes   : 46 bits physical, 57 bits virtual\n"
    "\n";

// An aarch64 Neoverse N1 core: no vendor_id, family or x86 flags at all.
constexpr const char* kNeoverseN1 =
    "processor\t: 0\n"
    "BogoMIPS\t: 243.75\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
    "asimdrdm lrcpc dcpop asimddp ssbs\n"
    "CPU implementer\t: 0x41\n"
    "CPU architecture: 8\n"
    "CPU variant\t: 0x3\n"
    "CPU part\t: 0xd0c\n"
    "CPU revision\t: 1\n"
    "\n";

// The 2-vCPU Intel guest the AMX path was first measured on: the hypervisor reports model 167
// (0xA7, a Rocket Lake client number) with AMX passed through, so the table cannot name it.
constexpr const char* kIntelAmxGuest =
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "cpu family\t: 6\n"
    "model\t\t: 167\n"
    "model name\t: Intel(R) Xeon(R) Processor\n"
    "stepping\t: 1\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush "
    "mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology "
    "nonstop_tsc cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe "
    "popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch "
    "cpuid_fault fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm avx512f avx512dq "
    "rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec "
    "xgetbv1 xsaves avx_vnni avx512_bf16 arat avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq "
    "avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid cldemote movdiri movdir64b fsrm serialize "
    "tsxldtrk amx_bf16 avx512_fp16 amx_tile amx_int8 arch_capabilities\n"
    "\n";

void expect_identity(const CpuIdentity& id, const std::string& vendor, int family, int model,
                     int stepping, const std::string& family_model_stepping,
                     const std::string& uarch, const std::string& isa) {
  EXPECT_EQ(id.vendor, vendor);
  EXPECT_EQ(id.family, family);
  EXPECT_EQ(id.model, model);
  EXPECT_EQ(id.stepping, stepping);
  EXPECT_EQ(id.family_model_stepping(), family_model_stepping);
  EXPECT_EQ(id.uarch, uarch);
  EXPECT_EQ(id.isa, isa);
}

TEST(CpuIdentity, EpycZen3GuestIsZen3WithAvx2AndFmaOnly) {
  expect_identity(parse_cpu_identity(kEpycZen3Guest), "AuthenticAMD", 25, 1, 1, "25/1/1", "Zen 3",
                  "avx2 fma");
}

TEST(CpuIdentity, EpycZen4HasAvx512WithBf16AndVnniButNoAvxVnni) {
  expect_identity(parse_cpu_identity(kEpycZen4), "AuthenticAMD", 25, 17, 1, "25/17/1", "Zen 4",
                  "avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_vnni");
}

TEST(CpuIdentity, EpycZen5GuestIsZen5WithAvxVnni) {
  expect_identity(parse_cpu_identity(kEpycZen5Guest), "AuthenticAMD", 26, 2, 1, "26/2/1", "Zen 5",
                  "avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_vnni avx_vnni");
}

TEST(CpuIdentity, SapphireRapidsHasEveryFeatureIncludingAmx) {
  expect_identity(parse_cpu_identity(kSapphireRapids), "GenuineIntel", 6, 143, 8, "6/143/8",
                  "Sapphire Rapids",
                  "avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_fp16 avx512_vnni "
                  "avx_vnni amx_tile amx_bf16 amx_int8");
}

TEST(CpuIdentity, IntelModelOutsideTheTableWithAmxIsDatedByIt) {
  expect_identity(parse_cpu_identity(kIntelAmxGuest), "GenuineIntel", 6, 167, 1, "6/167/1",
                  "Sapphire Rapids or later (by AMX)",
                  "avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_fp16 avx512_vnni "
                  "avx_vnni amx_tile amx_bf16 amx_int8");
}

TEST(CpuIdentity, Aarch64AndEmptyCpuinfoAreUnknownWithoutFeatures) {
  for (const char* text : {kNeoverseN1, "", "\n\n", "garbage without a colon\n"}) {
    const CpuIdentity id = parse_cpu_identity(text);
    EXPECT_EQ(id.vendor, "unknown") << text;
    EXPECT_FALSE(id.family.has_value()) << text;
    EXPECT_FALSE(id.model.has_value()) << text;
    EXPECT_FALSE(id.stepping.has_value()) << text;
    EXPECT_EQ(id.family_model_stepping(), "unknown") << text;
    EXPECT_EQ(id.uarch, "unknown") << text;
    EXPECT_EQ(id.isa, "") << text;
  }
}

TEST(CpuIdentity, FeaturesAreWholeFlagsListedInTheFixedOrder) {
  // Flags that merely start like a kernel feature (avx512vbmi, avx512_vp2intersect, amx_fp16)
  // do not count, and the order is the fixed one, not cpuinfo's.
  const CpuIdentity id = parse_cpu_identity(
      "flags\t: amx_int8 avx512vbmi avx512_vp2intersect amx_fp16 avx2x xavx2 avx512bw_ fma "
      "avx2\n");
  EXPECT_EQ(id.isa, "avx2 fma amx_int8");
  // The features of the first processor; "vmx flags" is another line.
  EXPECT_EQ(parse_cpu_identity("vmx flags\t: avx2\nflags\t: fma\n\nflags\t: avx2 fma\n").isa,
            "fma");
}

TEST(CpuIdentity, MissingOrUnreadableNumbersAreMarked) {
  const CpuIdentity id = parse_cpu_identity(
      "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nstepping\t: unknown\n");
  EXPECT_EQ(id.family_model_stepping(), "25/1/?");
  EXPECT_EQ(id.uarch, "Zen 3");  // the stepping is not needed for it
  const CpuIdentity no_model =
      parse_cpu_identity("vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: x8f\n");
  EXPECT_EQ(no_model.family_model_stepping(), "6/?/?");
  EXPECT_EQ(no_model.uarch, "unknown");
}

TEST(CpuIdentity, MicroarchitectureTableBoundaries) {
  const std::string amd = "AuthenticAMD", intel = "GenuineIntel";
  // AMD family 0x17: Zen+ models inside the Zen range, Zen 2 after it.
  EXPECT_EQ(x86_microarchitecture(amd, 0x17, 0x01), "Zen");
  EXPECT_EQ(x86_microarchitecture(amd, 0x17, 0x08), "Zen+");
  EXPECT_EQ(x86_microarchitecture(amd, 0x17, 0x11), "Zen");
  EXPECT_EQ(x86_microarchitecture(amd, 0x17, 0x18), "Zen+");
  EXPECT_EQ(x86_microarchitecture(amd, 0x17, 0x2F), "Zen");
  EXPECT_EQ(x86_microarchitecture(amd, 0x17, 0x31), "Zen 2");
  EXPECT_EQ(x86_microarchitecture(amd, 0x17, 0x71), "Zen 2");
  EXPECT_EQ(x86_microarchitecture(amd, 0x17, 0xB0), "unknown");
  // Family 0x19 interleaves Zen 3 and Zen 4.
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0x0F), "Zen 3");
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0x10), "Zen 4");
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0x1F), "Zen 4");
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0x20), "Zen 3");
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0x5F), "Zen 3");
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0x60), "Zen 4");
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0x7F), "Zen 4");
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0xA0), "Zen 4");
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0xAF), "Zen 4");
  EXPECT_EQ(x86_microarchitecture(amd, 0x19, 0xB0), "unknown");
  // Family 0x1A: Zen 5, unknown where the sources name different generations.
  EXPECT_EQ(x86_microarchitecture(amd, 0x1A, 0x11), "Zen 5");
  EXPECT_EQ(x86_microarchitecture(amd, 0x1A, 0x44), "Zen 5");
  EXPECT_EQ(x86_microarchitecture(amd, 0x1A, 0x4F), "Zen 5");
  EXPECT_EQ(x86_microarchitecture(amd, 0x1A, 0x50), "unknown");
  EXPECT_EQ(x86_microarchitecture(amd, 0x1A, 0x5F), "unknown");
  EXPECT_EQ(x86_microarchitecture(amd, 0x1A, 0x60), "Zen 5");
  EXPECT_EQ(x86_microarchitecture(amd, 0x1A, 0x80), "unknown");
  EXPECT_EQ(x86_microarchitecture(amd, 0x1B, 0x00), "unknown");
  // Intel family 6.
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0x55), "Skylake-SP/Cascade Lake/Cooper Lake");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0x6A), "Ice Lake-SP");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0x6C), "Ice Lake-D");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0x7E), "Ice Lake");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0x8C), "Tiger Lake");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0xCF), "Emerald Rapids");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0xAD), "Granite Rapids");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0xAE), "Granite Rapids");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0x9A), "Alder Lake");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0xBF), "Raptor Lake");
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0xBE), "unknown");  // Alder Lake-N: E-cores only
  EXPECT_EQ(x86_microarchitecture(intel, 6, 0x9E), "unknown");
  // A number means nothing without its vendor.
  EXPECT_EQ(x86_microarchitecture(amd, 6, 0x8F), "unknown");
  EXPECT_EQ(x86_microarchitecture(intel, 0x19, 0x01), "unknown");
  EXPECT_EQ(x86_microarchitecture("HygonGenuine", 0x18, 0x00), "unknown");
}

TEST(CpuIdentity, TitleNamesTheModelWithWhatIsKnown) {
  EXPECT_EQ(cpu_title("AMD EPYC", "Zen 3", "25/1/1"), "AMD EPYC (Zen 3, 25/1/1)");
  EXPECT_EQ(cpu_title("Intel(R) Xeon(R) Processor", "unknown", "6/200/1"),
            "Intel(R) Xeon(R) Processor (6/200/1)");
  EXPECT_EQ(cpu_title("Neoverse", "unknown", "unknown"), "Neoverse");
  EXPECT_EQ(cpu_title("AMD EPYC", "", ""), "AMD EPYC");  // a CSV from before the columns
}

TEST(CpuIdentity, ThisMachineIsReadOnceIntoItsRows) {
  const CpuIdentity& id = cpu_identity();
  const MachineContext& machine = machine_context();
  EXPECT_EQ(machine.cpu_vendor, id.vendor);
  EXPECT_EQ(machine.cpu_family_model, id.family_model_stepping());
  EXPECT_EQ(machine.cpu_uarch, id.uarch);
  EXPECT_EQ(machine.cpu_isa, id.isa);
  EXPECT_FALSE(machine.cpu_vendor.empty());
  EXPECT_FALSE(machine.cpu_uarch.empty());
#if defined(__x86_64__)
  EXPECT_NE(machine.cpu_vendor, "unknown");
  EXPECT_NE(machine.cpu_family_model, "unknown");
#endif
}

// `attnbench list` names the CPU as the figures do, on a line of its own without the " -- " that
// marks a variant's line (tests/fresh-machine/run.sh takes the variants from those).
TEST(CpuIdentity, ListNamesThisCpuOnALineThatIsNoVariant) {
  std::ostringstream out;
  ASSERT_EQ(list_variants(out), 0);
  const MachineContext& machine = machine_context();
  const std::string expected =
      "cpu: " + cpu_title(machine.cpu, machine.cpu_uarch, machine.cpu_family_model) + ", vendor " +
      machine.cpu_vendor + ", ISA ";
  std::istringstream lines(out.str());
  int cpu_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("cpu: ", 0) != 0) continue;
    ++cpu_lines;
    EXPECT_EQ(line.rfind(expected, 0), 0u) << line;
    EXPECT_EQ(line.find(" -- "), std::string::npos) << line;
    if (!machine.cpu_isa.empty()) {
      EXPECT_EQ(line, expected + machine.cpu_isa);
    }
  }
  EXPECT_EQ(cpu_lines, 1) << out.str();
}

}  // namespace
}  // namespace attn::harness
