# Writes OUTPUT with the source tree's git revision (suffixed -dirty when tracked files differ).
# Run at every build, not only at configure time, so every CSV row names the code that made it;
# the file is replaced only when the revision changes, so an unchanged tree rebuilds nothing.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE dirty ERROR_QUIET)
if(NOT revision)
  set(revision "unknown")
elseif(dirty)
  set(revision "${revision}-dirty")
endif()
file(WRITE ${OUTPUT}.tmp "#pragma once\n#define ATTN_GIT_REVISION \"${revision}\"\n")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
