# Finds oneDNN without letting its config fail our configure: the config is loaded first in a
# child CMake (cmake/probe_onednn), and only when that succeeds here. Sets ATTN_ONEDNN_FOUND and,
# when false, ATTN_ONEDNN_WHY (the probe's first error line).
function(attn_find_onednn)
  set(ATTN_ONEDNN_FOUND FALSE PARENT_SCOPE)
  set(probe_dir ${CMAKE_BINARY_DIR}/probe_onednn)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -S ${CMAKE_SOURCE_DIR}/cmake/probe_onednn -B ${probe_dir}
            -G ${CMAKE_GENERATOR} -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
    RESULT_VARIABLE probe_result OUTPUT_VARIABLE probe_out ERROR_VARIABLE probe_err)
  if(NOT probe_result EQUAL 0)
    # Name the first concrete reason (e.g. "Could NOT find OpenCL (missing: ...)").
    string(REGEX MATCH "Could NOT find [^\n]*|[^\n]*not found[^\n]*" why "${probe_err}")
    if(NOT why)
      set(why "its CMake config failed to load (see ${probe_dir})")
    endif()
    set(ATTN_ONEDNN_WHY "${why}" PARENT_SCOPE)
    return()
  endif()
  find_package(dnnl CONFIG QUIET)
  find_package(OpenMP QUIET COMPONENTS CXX)
  if(dnnl_FOUND AND OpenMP_CXX_FOUND)
    set(ATTN_ONEDNN_FOUND TRUE PARENT_SCOPE)
    set(dnnl_VERSION ${dnnl_VERSION} PARENT_SCOPE)
  else()
    set(ATTN_ONEDNN_WHY "not installed (libdnnl-dev)" PARENT_SCOPE)
  endif()
endfunction()
