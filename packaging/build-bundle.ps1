# Build Studio as a one-folder PyInstaller bundle on Windows and try it:
#   powershell -ExecutionPolicy Bypass -File packaging\build-bundle.ps1 [-Build build\bundle] [-Torch "torch==2.13.0"]
# The same steps as packaging/build-bundle.sh: a virtualenv with torch (pick the build for the
# machines the bundle is for: add -TorchIndex https://download.pytorch.org/whl/cu128 for NVIDIA
# GPUs, https://download.pytorch.org/whl/cpu for none), Studio and PyInstaller; then
# Build\dist\studio\studio.exe, run from an empty folder: --version and one picture.
param(
    [string]$Build = "build\bundle",
    [string]$Torch = "torch==2.13.0",
    [string]$TorchIndex = ""
)
$ErrorActionPreference = "Stop"
$root = Resolve-Path (Join-Path $PSScriptRoot "..")
New-Item -ItemType Directory -Force -Path $Build | Out-Null
$build = Resolve-Path $Build
$python = Join-Path $build "venv\Scripts\python.exe"

function Invoke-Checked([string]$exe, [string[]]$arguments) {
    & $exe @arguments
    if ($LASTEXITCODE -ne 0) { throw "$exe $($arguments -join ' ') failed ($LASTEXITCODE)" }
}

if (-not (Test-Path $python)) { Invoke-Checked "py" @("-3", "-m", "venv", (Join-Path $build "venv")) }
$torchArgs = @("-m", "pip", "install", "--quiet", $Torch)
if ($TorchIndex) { $torchArgs += @("--index-url", $TorchIndex) }
Invoke-Checked $python $torchArgs
Invoke-Checked $python @("-m", "pip", "install", "--quiet", "$root", "pyinstaller>=6.10")
Invoke-Checked $python @("-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", "$root")

Push-Location $build
try {
    Invoke-Checked $python @("-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--distpath", (Join-Path $build "dist"), "--workpath", (Join-Path $build "work"),
        (Join-Path $root "packaging\studio.spec"))
} finally { Pop-Location }
$studio = Join-Path $build "dist\studio\studio.exe"

$check = Join-Path ([System.IO.Path]::GetTempPath()) ("studio-bundle-" + [guid]::NewGuid())
New-Item -ItemType Directory -Path $check | Out-Null
Push-Location $check
try {
    $env:HF_HUB_OFFLINE = "1"; $env:STUDIO_DATA_DIR = Join-Path $check "data"; $env:STUDIO_NO_PROGRESS = "1"
    Invoke-Checked $studio @("--version")
    Invoke-Checked $studio @("generate", "a lake at dawn", "--steps", "2", "--width", "128", "--height", "128",
        "--seed", "1", "--out", (Join-Path $check "x.png"))
    if (-not (Test-Path (Join-Path $check "x.png"))) { throw "the bundle wrote no picture" }
    Write-Output "build-bundle: passed ($studio)"
} finally {
    Pop-Location
    Remove-Item -Recurse -Force $check
}
