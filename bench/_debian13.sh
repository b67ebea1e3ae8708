# Sourced by the interpreter trials (bench/pypy_trial.sh, bench/py313_trial.sh): Debian 13's
# packages unpacked beside the machine, not installed.
#
# debian13_unpack DIR BINARY PACKAGE...: download PACKAGE... (with their libraries, libc
# included, named by the caller) from Debian 13 with a private apt list under DIR/apt,
# unpack them into DIR/root, and point DIR/root/usr/bin/BINARY at that libc and those
# libraries with patchelf (the one thing installed on the machine).
debian13_unpack() {
    local dir=$1 binary=$2
    shift 2
    command -v patchelf > /dev/null || apt-get install -y -q patchelf > /dev/null
    local apt_dir="$dir/apt"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    rm -rf "$apt_dir/debs" "$dir/root" && mkdir -p "$apt_dir/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
        "http://deb.debian.org/debian trixie main" > "$apt_dir/sources.list"
    local apt=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
               -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
    apt-get "${apt[@]}" update -q > /dev/null
    (cd "$apt_dir/debs" && apt-get "${apt[@]}" download -q "$@" 2> /dev/null)
    local deb
    for deb in "$apt_dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
    local libs="$dir/root/usr/lib/x86_64-linux-gnu"
    patchelf --set-interpreter "$libs/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libs" \
        "$dir/root/usr/bin/$binary"
}

# venv_with_pip PYTHON VENV CPYTHON: a venv of PYTHON (whose ensurepip Debian leaves out)
# with pip, taken from PyPI by CPYTHON's pip.
venv_with_pip() {
    local python=$1 venv=$2 cpython=$3
    rm -rf "$venv"
    "$python" -m venv --without-pip "$venv"
    local wheels
    wheels=$(mktemp -d)
    "$cpython" -m pip download -q --no-deps -d "$wheels" pip
    local pip_wheel
    pip_wheel=$(ls "$wheels"/pip-*.whl | head -1)
    "$venv/bin/python" "$pip_wheel/pip" install -q "$pip_wheel"
    rm -rf "$wheels"
}
