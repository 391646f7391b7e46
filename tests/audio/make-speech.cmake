# Speaks the VAD test sentence into OUT_DIR/speech.wav (22050 Hz mono PCM16) with espeak-ng.
# Run at build time (tests/audio/CMakeLists.txt); -DESPEAK=<path> -DOUT_DIR=<dir>.
file(MAKE_DIRECTORY "${OUT_DIR}")
execute_process(
  COMMAND "${ESPEAK}" -v en-us -s 160 -w "${OUT_DIR}/speech.wav"
          "This is a test of the voice activity detector"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT EXISTS "${OUT_DIR}/speech.wav")
  message(FATAL_ERROR "espeak-ng failed (${rc}): cannot make ${OUT_DIR}/speech.wav")
endif()
