//! Turning a user's backend choice into a Burn [`Device`].
//!
//! chronomap's modules are not generic over a backend: the same network runs on whichever
//! [`Device`] it is given. This module maps the names users type (`--device flex`,
//! `--device wgpu`, ...) to devices, and says clearly when a backend was not compiled in or
//! has no hardware behind it.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A backend a user can ask for by name.
///
/// | name(s)          | backend                                             | Cargo feature      |
/// |------------------|-----------------------------------------------------|--------------------|
/// | `auto` (default) | best available: CUDA, then a real wgpu GPU, then Flex | -                |
/// | `cpu`, `flex`    | Flex, Burn's pure-Rust CPU backend (SIMD + threads) | always             |
/// | `ndarray`        | Burn's NdArray CPU backend (inference only)         | `ndarray`          |
/// | `wgpu`           | wgpu on the platform's native API (Vulkan, Metal, DX12) | `wgpu` (default) |
/// | `vulkan`         | wgpu pinned to Vulkan (also Mesa lavapipe on CPUs)  | `wgpu` (default)   |
/// | `cuda`           | CUDA                                                | `cuda`             |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The best backend available on this machine.
    #[default]
    Auto,
    /// Flex, the pure-Rust CPU backend.
    Flex,
    /// NdArray, the older pure-Rust CPU backend.
    NdArray,
    /// wgpu on the platform's native graphics API: Vulkan on Linux and Android, Metal on
    /// macOS and iOS, DirectX 12 on Windows. wgpu's OpenGL/GLES backend is never used: on a
    /// machine without a GPU driver it runs on Mesa's llvmpipe, where the wgpu test (a tiny
    /// network, 64 x 64 px) ran for 13 minutes.
    Wgpu,
    /// wgpu pinned to Vulkan.
    Vulkan,
    /// CUDA (NVIDIA GPUs).
    Cuda,
}

impl DeviceChoice {
    /// Every choice, in the order `--help` lists them.
    pub const ALL: [DeviceChoice; 6] = [
        DeviceChoice::Auto,
        DeviceChoice::Flex,
        DeviceChoice::NdArray,
        DeviceChoice::Wgpu,
        DeviceChoice::Vulkan,
        DeviceChoice::Cuda,
    ];

    /// The canonical name of the choice (what [`FromStr`] accepts).
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Flex => "flex",
            DeviceChoice::NdArray => "ndarray",
            DeviceChoice::Wgpu => "wgpu",
            DeviceChoice::Vulkan => "vulkan",
            DeviceChoice::Cuda => "cuda",
        }
    }

    /// Whether the backend behind this choice was compiled into this build.
    pub fn is_compiled(self) -> bool {
        match self {
            DeviceChoice::Auto | DeviceChoice::Flex => true,
            DeviceChoice::NdArray => cfg!(feature = "ndarray"),
            DeviceChoice::Wgpu | DeviceChoice::Vulkan => cfg!(feature = "wgpu"),
            DeviceChoice::Cuda => cfg!(feature = "cuda"),
        }
    }

    fn feature(self) -> &'static str {
        match self {
            DeviceChoice::Auto | DeviceChoice::Flex => "",
            DeviceChoice::NdArray => "ndarray",
            DeviceChoice::Wgpu | DeviceChoice::Vulkan => "wgpu",
            DeviceChoice::Cuda => "cuda",
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" | "best" => Ok(DeviceChoice::Auto),
            "cpu" | "flex" => Ok(DeviceChoice::Flex),
            "ndarray" => Ok(DeviceChoice::NdArray),
            "wgpu" | "gpu" => Ok(DeviceChoice::Wgpu),
            "vulkan" => Ok(DeviceChoice::Vulkan),
            "cuda" => Ok(DeviceChoice::Cuda),
            _ => Err(DeviceError::Unknown {
                name: s.to_string(),
            }),
        }
    }
}

/// Why a device could not be provided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The name is not a backend chronomap knows.
    #[error(
        "unknown device {name:?}: expected one of auto, cpu, flex, ndarray, wgpu, vulkan, cuda"
    )]
    Unknown {
        /// What the user typed.
        name: String,
    },
    /// The backend exists but this build was compiled without it.
    #[error(
        "the {choice} backend is not compiled into this build: rebuild with \
         `--features {feature}` (e.g. `cargo run --release --features {feature} ...`)"
    )]
    NotCompiled {
        /// The backend asked for.
        choice: DeviceChoice,
        /// The Cargo feature of the `chronomap` package that enables it.
        feature: &'static str,
    },
    /// The backend is compiled in but no usable hardware/driver was found.
    #[error("no {choice} device is available on this machine: {reason}")]
    Unavailable {
        /// The backend asked for.
        choice: DeviceChoice,
        /// What the driver/runtime said.
        reason: String,
    },
}

/// Returns the device for `choice`.
///
/// `Auto` picks CUDA when compiled in and a GPU answers, then a real (discrete or integrated)
/// GPU through wgpu, and otherwise Flex: a software Vulkan adapter such as Mesa lavapipe is
/// never chosen automatically, because Flex is much faster on a CPU. Ask for `vulkan` or
/// `wgpu` explicitly to use it.
///
/// The returned device does not track gradients; training code calls
/// `device.clone().autodiff()` itself.
///
/// # Errors
/// [`DeviceError::NotCompiled`] when the backend was left out of this build (with the Cargo
/// feature that adds it), [`DeviceError::Unavailable`] when it is compiled in but has no
/// device here.
pub fn select_device(choice: DeviceChoice) -> Result<Device, DeviceError> {
    if !choice.is_compiled() {
        return Err(DeviceError::NotCompiled {
            choice,
            feature: choice.feature(),
        });
    }
    match choice {
        DeviceChoice::Flex => Ok(Device::flex()),
        DeviceChoice::NdArray => ndarray_device(),
        DeviceChoice::Wgpu => wgpu_device(false),
        DeviceChoice::Vulkan => wgpu_device(true),
        DeviceChoice::Cuda => cuda_device(),
        DeviceChoice::Auto => Ok(best_device()),
    }
}

/// Parses `name` (see [`DeviceChoice`]) and returns its device; a shorthand for the CLI
/// and examples.
///
/// # Errors
/// As [`select_device`], plus [`DeviceError::Unknown`] for a name that is not a backend.
pub fn device_from_name(name: &str) -> Result<Device, DeviceError> {
    select_device(name.parse()?)
}

/// Parses a comma-separated device list for data-parallel training (`--devices`):
/// `cuda:0,cuda:1`, `wgpu:0,wgpu:1` (the n-th discrete GPU through wgpu's native API),
/// or plain names as [`device_from_name`] takes them (`flex`, `cuda` = `cuda:0`, ...). A name
/// may repeat: `flex,flex` runs two replicas on the CPU (no faster than one, since Flex already
/// uses every core; useful to check a multi-device setup).
///
/// # Errors
/// As [`device_from_name`] for each entry; [`DeviceError::Unavailable`] for an index with no
/// device behind it; [`DeviceError::Unknown`] for an empty list or an entry that is not a
/// backend, or whose index is not a number.
pub fn devices_from_list(list: &str) -> Result<Vec<Device>, DeviceError> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, index) = match entry.split_once(':') {
            Some((n, i)) => (
                n,
                Some(
                    i.trim()
                        .parse::<usize>()
                        .map_err(|_| DeviceError::Unknown {
                            name: entry.to_string(),
                        })?,
                ),
            ),
            None => (entry, None),
        };
        let choice: DeviceChoice = name.parse()?;
        let device = match (choice, index) {
            (_, None) | (DeviceChoice::Flex | DeviceChoice::NdArray, Some(0)) => {
                select_device(choice)?
            }
            (DeviceChoice::Cuda, Some(i)) => cuda_device_at(i)?,
            (DeviceChoice::Wgpu | DeviceChoice::Vulkan, Some(i)) => {
                wgpu_device_at(choice == DeviceChoice::Vulkan, i)?
            }
            (choice, Some(i)) => {
                return Err(DeviceError::Unavailable {
                    choice,
                    reason: format!("{choice} has one device; there is no {choice}:{i}"),
                });
            }
        };
        out.push(device);
    }
    if out.is_empty() {
        return Err(DeviceError::Unknown {
            name: list.to_string(),
        });
    }
    Ok(out)
}

/// A short human-readable description of `device` (for logs and benchmark reports).
pub fn describe_device(device: &Device) -> String {
    format!("{device:?}")
}

fn best_device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = cuda_device() {
        return d;
    }
    #[cfg(feature = "wgpu")]
    {
        use burn::tensor::DeviceKind;
        // Probe the platform's native API only: asking wgpu to try every API also initializes
        // OpenGL/EGL, which on a headless Linux machine prints loader noise to stderr.
        let api = native_api();
        for kind in [DeviceKind::DiscreteGpu(0), DeviceKind::IntegratedGpu(0)] {
            if !may_have_gpu() {
                break;
            }
            let options = Device::wgpu_options().graphics_api(api).device_kind(kind);
            if let Ok(d) = options.init() {
                return d;
            }
        }
    }
    Device::flex()
}

/// Whether a GPU driver could be present. On Linux a GPU is reached through device nodes
/// (`/dev/dri/renderD*` for Mesa/AMD/Intel, `/dev/nvidia*` for NVIDIA): without any, probing
/// wgpu only finds software adapters (which `auto` never picks) and makes the Vulkan loader
/// print display-server warnings. Elsewhere, always probe.
#[cfg(feature = "wgpu")]
fn may_have_gpu() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let has = |dir: &str, prefix: &str| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    };
    has("/dev/dri", "renderD") || has("/dev", "nvidia")
}

#[cfg(feature = "ndarray")]
fn ndarray_device() -> Result<Device, DeviceError> {
    #[allow(deprecated)]
    Ok(Device::ndarray())
}

#[cfg(not(feature = "ndarray"))]
fn ndarray_device() -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled {
        choice: DeviceChoice::NdArray,
        feature: "ndarray",
    })
}

/// The platform's native graphics API for wgpu (never OpenGL: see [`DeviceChoice::Wgpu`]).
#[cfg(feature = "wgpu")]
fn native_api() -> burn::tensor::wgpu::WgpuBackend {
    use burn::tensor::wgpu::WgpuBackend;
    if cfg!(any(target_os = "macos", target_os = "ios")) {
        WgpuBackend::Metal
    } else if cfg!(target_os = "windows") {
        WgpuBackend::Dx12
    } else {
        WgpuBackend::Vulkan
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device(vulkan: bool) -> Result<Device, DeviceError> {
    use burn::tensor::wgpu::WgpuBackend;
    let (api, choice) = if vulkan {
        (WgpuBackend::Vulkan, DeviceChoice::Vulkan)
    } else {
        (native_api(), DeviceChoice::Wgpu)
    };
    let options = Device::wgpu_options().graphics_api(api);
    options.init().map_err(|e| DeviceError::Unavailable {
        choice,
        reason: format!(
            "{e} (on a machine without a GPU, install a software Vulkan driver, \
             e.g. `apt-get install mesa-vulkan-drivers`, or use `--device cpu`)"
        ),
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device(vulkan: bool) -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled {
        choice: if vulkan {
            DeviceChoice::Vulkan
        } else {
            DeviceChoice::Wgpu
        },
        feature: "wgpu",
    })
}

#[cfg(feature = "cuda")]
fn cuda_device_at(index: usize) -> Result<Device, DeviceError> {
    let found = Device::enumerate(burn::tensor::DeviceType::Cuda);
    let n = found.len();
    found
        .into_iter()
        .nth(index)
        .ok_or_else(|| DeviceError::Unavailable {
            choice: DeviceChoice::Cuda,
            reason: format!("cuda:{index} asked for, {n} CUDA device(s) found"),
        })
}

#[cfg(not(feature = "cuda"))]
fn cuda_device_at(_index: usize) -> Result<Device, DeviceError> {
    cuda_device()
}

#[cfg(feature = "wgpu")]
fn wgpu_device_at(vulkan: bool, index: usize) -> Result<Device, DeviceError> {
    use burn::tensor::DeviceKind;
    use burn::tensor::wgpu::WgpuBackend;
    let (api, choice) = if vulkan {
        (WgpuBackend::Vulkan, DeviceChoice::Vulkan)
    } else {
        (native_api(), DeviceChoice::Wgpu)
    };
    let options = Device::wgpu_options()
        .graphics_api(api)
        .device_kind(DeviceKind::DiscreteGpu(index));
    options.init().map_err(|e| DeviceError::Unavailable {
        choice,
        reason: format!("discrete GPU {index}: {e}"),
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device_at(vulkan: bool, _index: usize) -> Result<Device, DeviceError> {
    wgpu_device(vulkan)
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, DeviceError> {
    let found = Device::enumerate(burn::tensor::DeviceType::Cuda);
    match found.into_iter().next() {
        Some(d) => Ok(d),
        None => Err(DeviceError::Unavailable {
            choice: DeviceChoice::Cuda,
            reason: "no CUDA device was found".into(),
        }),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled {
        choice: DeviceChoice::Cuda,
        feature: "cuda",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Flex);
        assert_eq!("flex".parse::<DeviceChoice>().unwrap(), DeviceChoice::Flex);
        assert_eq!(
            " Vulkan ".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Vulkan
        );
        assert_eq!("".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        for c in DeviceChoice::ALL {
            assert_eq!(c.name().parse::<DeviceChoice>().unwrap(), c);
        }
    }

    #[test]
    fn unknown_name_is_an_error_listing_the_choices() {
        let e = "tpu".parse::<DeviceChoice>().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("\"tpu\"") && msg.contains("flex") && msg.contains("cuda"),
            "{msg}"
        );
    }

    #[test]
    fn device_lists_parse() {
        assert_eq!(devices_from_list("flex, cpu").unwrap().len(), 2);
        assert_eq!(devices_from_list("flex:0").unwrap().len(), 1);
        assert!(matches!(
            devices_from_list(" , ").unwrap_err(),
            DeviceError::Unknown { .. }
        ));
        assert!(matches!(
            devices_from_list("cuda:x").unwrap_err(),
            DeviceError::Unknown { .. }
        ));
        let e = devices_from_list("flex:1").unwrap_err();
        assert!(e.to_string().contains("flex:1"), "{e}");
    }

    #[test]
    fn flex_is_always_available() {
        let d = select_device(DeviceChoice::Flex).unwrap();
        assert!(!d.is_autodiff());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_not_compiled_names_the_feature() {
        let e = select_device(DeviceChoice::Cuda).unwrap_err();
        assert!(matches!(
            e,
            DeviceError::NotCompiled {
                feature: "cuda",
                ..
            }
        ));
        assert!(e.to_string().contains("--features cuda"), "{e}");
    }

    #[cfg(not(feature = "ndarray"))]
    #[test]
    fn ndarray_not_compiled_names_the_feature() {
        let e = select_device(DeviceChoice::NdArray).unwrap_err();
        assert!(e.to_string().contains("--features ndarray"), "{e}");
    }
}
