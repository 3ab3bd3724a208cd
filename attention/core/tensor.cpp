#include "attention/core/tensor.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace attn {

void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advisory only: with THP disabled or unavailable the call fails and small pages are used.
  (void)madvise(data, bytes, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace attn
