# Sourced by scripts/demo.sh and scripts/test.sh: installs what a fresh Debian 12 machine with a
# compiler and cmake lacks. As root it runs apt-get; otherwise it prints the exact command.
#   monarch_ensure_deps demo|test
monarch_ensure_deps() {
  local want=(libeigen3-dev ninja-build nlohmann-json3-dev)
  if [ "$1" = test ]; then
    want+=(libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev nlohmann-json3-dev
           clang libclang-rt-14-dev libomp-dev)
  fi
  local missing=()
  for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "monarch: installing missing packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "monarch: not root; run this first, then try again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
}
