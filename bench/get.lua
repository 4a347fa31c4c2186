-- wrk script for plain GETs (path and headers come from the command line).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
