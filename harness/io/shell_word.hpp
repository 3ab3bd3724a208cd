#pragma once

#include <string>

namespace attn::harness {

// `text` as one POSIX shell word: unchanged when it holds only characters no shell treats
// specially, otherwise in single quotes (a quote inside as '\''). Used wherever the suite prints
// a command for the user to paste: the resume command, a report's sweep, status's reruns.
std::string shell_word(const std::string& text);

}  // namespace attn::harness
