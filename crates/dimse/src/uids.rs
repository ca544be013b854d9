//! The SOP classes and transfer syntaxes Isengard's SCP negotiates, as
//! Orthanc 1.10.1 does: Verification, every standard storage SOP class (the
//! list below, from the DICOM standard's registry of UIDs), Patient and Study
//! Root Query/Retrieve FIND, MOVE and GET, and the transfer syntaxes Orthanc
//! accepts for storage. `UnknownSopClassAccepted` makes the SCP accept any
//! other abstract syntax as a storage SOP class.

use isengard_dicom::wildcard::wildcard_match;

pub const VERIFICATION: &str = "1.2.840.10008.1.1";
pub const PATIENT_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.1.1";
pub const PATIENT_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.1.2";
pub const PATIENT_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.1.3";
pub const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
pub const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
pub const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";

pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
pub const DEFLATED_LE: &str = "1.2.840.10008.1.2.1.99";

/// Query/retrieve SOP classes (FIND, MOVE, GET of both roots).
pub const QUERY_RETRIEVE: &[&str] = &[
    PATIENT_ROOT_FIND,
    PATIENT_ROOT_MOVE,
    PATIENT_ROOT_GET,
    STUDY_ROOT_FIND,
    STUDY_ROOT_MOVE,
    STUDY_ROOT_GET,
];

/// Transfer syntaxes for Verification and query/retrieve contexts.
pub const UNCOMPRESSED: &[&str] = &[EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE];

/// Transfer syntaxes accepted for storage: every transfer syntax Orthanc
/// 1.10.1 knows, in its order (`/tools/accepted-transfer-syntaxes` chooses
/// among them at run time).
pub const STORAGE_TRANSFER_SYNTAXES: &[&str] = &[
    IMPLICIT_LE,
    EXPLICIT_LE,
    DEFLATED_LE,
    EXPLICIT_BE,
    "1.2.840.10008.1.2.4.50", // JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51", // JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.52", // JPEG Extended (Process 3 & 5), retired
    "1.2.840.10008.1.2.4.53", // JPEG Spectral Selection (Process 6 & 8), retired
    "1.2.840.10008.1.2.4.54", // JPEG Spectral Selection (Process 7 & 9), retired
    "1.2.840.10008.1.2.4.55", // JPEG Full Progression (Process 10 & 12), retired
    "1.2.840.10008.1.2.4.56", // JPEG Full Progression (Process 11 & 13), retired
    "1.2.840.10008.1.2.4.57", // JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.58", // JPEG Lossless, Non-Hierarchical (Process 15), retired
    "1.2.840.10008.1.2.4.59", // JPEG Extended, Hierarchical (Process 16 & 18), retired
    "1.2.840.10008.1.2.4.60", // JPEG Extended, Hierarchical (Process 17 & 19), retired
    "1.2.840.10008.1.2.4.61", // JPEG Spectral Selection, Hierarchical (20 & 22), retired
    "1.2.840.10008.1.2.4.62", // JPEG Spectral Selection, Hierarchical (21 & 23), retired
    "1.2.840.10008.1.2.4.63", // JPEG Full Progression, Hierarchical (24 & 26), retired
    "1.2.840.10008.1.2.4.64", // JPEG Full Progression, Hierarchical (25 & 27), retired
    "1.2.840.10008.1.2.4.65", // JPEG Lossless, Hierarchical (Process 28), retired
    "1.2.840.10008.1.2.4.66", // JPEG Lossless, Hierarchical (Process 29), retired
    "1.2.840.10008.1.2.4.70", // JPEG Lossless, First-Order Prediction (Process 14, SV1)
    "1.2.840.10008.1.2.4.80", // JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81", // JPEG-LS Lossy (Near-Lossless)
    "1.2.840.10008.1.2.4.90", // JPEG 2000 (Lossless Only)
    "1.2.840.10008.1.2.4.91", // JPEG 2000
    "1.2.840.10008.1.2.4.92", // JPEG 2000 Part 2 Multi-component (Lossless Only)
    "1.2.840.10008.1.2.4.93", // JPEG 2000 Part 2 Multi-component
    "1.2.840.10008.1.2.4.94", // JPIP Referenced
    "1.2.840.10008.1.2.4.95", // JPIP Referenced Deflate
    "1.2.840.10008.1.2.4.100", // MPEG2 Main Profile / Main Level
    "1.2.840.10008.1.2.4.101", // MPEG2 Main Profile / High Level
    "1.2.840.10008.1.2.4.102", // MPEG-4 AVC/H.264 High Profile / Level 4.1
    "1.2.840.10008.1.2.4.103", // MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1
    "1.2.840.10008.1.2.4.104", // MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video
    "1.2.840.10008.1.2.4.105", // MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video
    "1.2.840.10008.1.2.4.106", // MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2
    "1.2.840.10008.1.2.4.107", // HEVC/H.265 Main Profile / Level 5.1
    "1.2.840.10008.1.2.4.108", // HEVC/H.265 Main 10 Profile / Level 5.1
    "1.2.840.10008.1.2.5",    // RLE Lossless
    "1.2.840.10008.1.2.6.1",  // RFC 2557 MIME encapsulation, retired
    "1.2.840.10008.1.2.6.2",  // XML Encoding, retired
];

/// The groups of transfer syntaxes that Orthanc's `*TransferSyntaxAccepted`
/// options switch off (each a UID prefix list).
pub const TRANSFER_SYNTAX_GROUPS: &[(&str, &[&str])] = &[
    ("DeflatedTransferSyntaxAccepted", &["1.2.840.10008.1.2.1.99"]),
    (
        "JpegTransferSyntaxAccepted",
        &[
            "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.52",
            "1.2.840.10008.1.2.4.53", "1.2.840.10008.1.2.4.54", "1.2.840.10008.1.2.4.55",
            "1.2.840.10008.1.2.4.56", "1.2.840.10008.1.2.4.59", "1.2.840.10008.1.2.4.60",
            "1.2.840.10008.1.2.4.61", "1.2.840.10008.1.2.4.62", "1.2.840.10008.1.2.4.63",
            "1.2.840.10008.1.2.4.64",
        ],
    ),
    (
        "Jpeg2000TransferSyntaxAccepted",
        &[
            "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
            "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93",
        ],
    ),
    (
        "JpegLosslessTransferSyntaxAccepted",
        &[
            "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.58",
            "1.2.840.10008.1.2.4.65", "1.2.840.10008.1.2.4.66", "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
        ],
    ),
    (
        "JpipTransferSyntaxAccepted",
        &["1.2.840.10008.1.2.4.94", "1.2.840.10008.1.2.4.95"],
    ),
    (
        "Mpeg2TransferSyntaxAccepted",
        &["1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101"],
    ),
    (
        "Mpeg4TransferSyntaxAccepted",
        &[
            "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104",
            "1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.106",
        ],
    ),
    (
        "H265TransferSyntaxAccepted",
        &["1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108"],
    ),
    ("RleTransferSyntaxAccepted", &["1.2.840.10008.1.2.5"]),
];

/// The transfer syntaxes of [`STORAGE_TRANSFER_SYNTAXES`] that one of
/// `patterns` matches (`*` any run of characters, `?` one character, as
/// Orthanc's `AcceptedTransferSyntaxes`), in Orthanc's order.
pub fn matching_transfer_syntaxes<S: AsRef<str>>(patterns: &[S]) -> Vec<&'static str> {
    STORAGE_TRANSFER_SYNTAXES
        .iter()
        .copied()
        .filter(|ts| patterns.iter().any(|p| wildcard_match(p.as_ref(), ts)))
        .collect()
}


/// Whether `uid` is a standard storage SOP class.
pub fn is_storage(uid: &str) -> bool {
    STORAGE_SOP_CLASSES.contains(&uid)
}

/// Standard storage SOP classes (including retired ones DCMTK still lists).
pub const STORAGE_SOP_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.1.27",         // Stored Print Storage SOP Class (Retired)
    "1.2.840.10008.5.1.1.29",         // Hardcopy Grayscale Image Storage SOP Class (Retired)
    "1.2.840.10008.5.1.1.30",         // Hardcopy Color Image Storage SOP Class (Retired)
    "1.2.840.10008.5.1.4.1.1.1",      // Computed Radiography Image Storage
    "1.2.840.10008.5.1.4.1.1.10",     // Standalone Modality LUT Storage (Retired)
    "1.2.840.10008.5.1.4.1.1.104.1",  // Encapsulated PDF Storage
    "1.2.840.10008.5.1.4.1.1.104.2",  // Encapsulated CDA Storage
    "1.2.840.10008.5.1.4.1.1.104.3",  // Encapsulated STL Storage
    "1.2.840.10008.5.1.4.1.1.104.4",  // Encapsulated OBJ Storage
    "1.2.840.10008.5.1.4.1.1.104.5",  // Encapsulated MTL Storage
    "1.2.840.10008.5.1.4.1.1.11",     // Standalone VOI LUT Storage (Retired)
    "1.2.840.10008.5.1.4.1.1.11.1",   // Grayscale Softcopy Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.10", // Segmented Volume Rendering Volumetric Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.11", // Multiple Volume Rendering Volumetric Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.12", // Variable Modality LUT Softcopy Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.2",  // Color Softcopy Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.3",  // Pseudo-Color Softcopy Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.4",  // Blending Softcopy Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.5",  // XA/XRF Grayscale Softcopy Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.6",  // Grayscale Planar MPR Volumetric Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.7",  // Compositing Planar MPR Volumetric Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.8",  // Advanced Blending Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.11.9",  // Volume Rendering Volumetric Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.12.1",  // X-Ray Angiographic Image Storage
    "1.2.840.10008.5.1.4.1.1.12.1.1", // Enhanced XA Image Storage
    "1.2.840.10008.5.1.4.1.1.12.2",  // X-Ray Radiofluoroscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.12.2.1", // Enhanced XRF Image Storage
    "1.2.840.10008.5.1.4.1.1.12.3",  // X-Ray Angiographic Bi-Plane Image Storage (Retired)
    "1.2.840.10008.5.1.4.1.1.128",   // Positron Emission Tomography Image Storage
    "1.2.840.10008.5.1.4.1.1.128.1", // Legacy Converted Enhanced PET Image Storage
    "1.2.840.10008.5.1.4.1.1.129",   // Standalone PET Curve Storage (Retired)
    "1.2.840.10008.5.1.4.1.1.13.1.1", // X-Ray 3D Angiographic Image Storage
    "1.2.840.10008.5.1.4.1.1.13.1.2", // X-Ray 3D Craniofacial Image Storage
    "1.2.840.10008.5.1.4.1.1.13.1.3", // Breast Tomosynthesis Image Storage
    "1.2.840.10008.5.1.4.1.1.130",   // Enhanced PET Image Storage
    "1.2.840.10008.5.1.4.1.1.131",   // Basic Structured Display Storage
    "1.2.840.10008.5.1.4.1.1.2",     // CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",   // Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",   // Legacy Converted Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.20",    // Nuclear Medicine Image Storage
    "1.2.840.10008.5.1.4.1.1.200.1", // CT Defined Procedure Protocol Storage
    "1.2.840.10008.5.1.4.1.1.200.2", // CT Performed Procedure Protocol Storage
    "1.2.840.10008.5.1.4.1.1.200.3", // Protocol Approval Storage
    "1.2.840.10008.5.1.4.1.1.200.7", // XA Defined Procedure Protocol Storage
    "1.2.840.10008.5.1.4.1.1.200.8", // XA Performed Procedure Protocol Storage
    "1.2.840.10008.5.1.4.1.1.201.1", // Inventory Storage
    "1.2.840.10008.5.1.4.1.1.3.1",   // Ultrasound Multi-frame Image Storage
    "1.2.840.10008.5.1.4.1.1.30",    // Parametric Map Storage
    "1.2.840.10008.5.1.4.1.1.4",     // MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.1",   // Enhanced MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.2",   // MR Spectroscopy Storage
    "1.2.840.10008.5.1.4.1.1.4.3",   // Enhanced MR Color Image Storage
    "1.2.840.10008.5.1.4.1.1.4.4",   // Legacy Converted Enhanced MR Image Storage
    "1.2.840.10008.5.1.4.1.1.481.1", // RT Image Storage
    "1.2.840.10008.5.1.4.1.1.481.10", // RT Physician Intent Storage
    "1.2.840.10008.5.1.4.1.1.481.11", // RT Segment Annotation Storage
    "1.2.840.10008.5.1.4.1.1.481.12", // RT Radiation Set Storage
    "1.2.840.10008.5.1.4.1.1.481.13", // C-Arm Photon-Electron Radiation Storage
    "1.2.840.10008.5.1.4.1.1.481.14", // Tomotherapeutic Radiation Storage
    "1.2.840.10008.5.1.4.1.1.481.15", // Robotic-Arm Radiation Storage
    "1.2.840.10008.5.1.4.1.1.481.16", // RT Radiation Record Set Storage
    "1.2.840.10008.5.1.4.1.1.481.17", // RT Radiation Salvage Record Storage
    "1.2.840.10008.5.1.4.1.1.481.18", // Tomotherapeutic Radiation Record Storage
    "1.2.840.10008.5.1.4.1.1.481.19", // C-Arm Photon-Electron Radiation Record Storage
    "1.2.840.10008.5.1.4.1.1.481.2", // RT Dose Storage
    "1.2.840.10008.5.1.4.1.1.481.20", // Robotic Radiation Record Storage
    "1.2.840.10008.5.1.4.1.1.481.21", // RT Radiation Set Delivery Instruction Storage
    "1.2.840.10008.5.1.4.1.1.481.22", // RT Treatment Preparation Storage
    "1.2.840.10008.5.1.4.1.1.481.23", // Enhanced RT Image Storage
    "1.2.840.10008.5.1.4.1.1.481.24", // Enhanced Continuous RT Image Storage
    "1.2.840.10008.5.1.4.1.1.481.25", // RT Patient Position Acquisition Instruction Storage
    "1.2.840.10008.5.1.4.1.1.481.3", // RT Structure Set Storage
    "1.2.840.10008.5.1.4.1.1.481.4", // RT Beams Treatment Record Storage
    "1.2.840.10008.5.1.4.1.1.481.5", // RT Plan Storage
    "1.2.840.10008.5.1.4.1.1.481.6", // RT Brachy Treatment Record Storage
    "1.2.840.10008.5.1.4.1.1.481.7", // RT Treatment Summary Record Storage
    "1.2.840.10008.5.1.4.1.1.481.8", // RT Ion Plan Storage
    "1.2.840.10008.5.1.4.1.1.481.9", // RT Ion Beams Treatment Record Storage
    "1.2.840.10008.5.1.4.1.1.501.1", // DICOS CT Image Storage
    "1.2.840.10008.5.1.4.1.1.501.3", // DICOS Threat Detection Report Storage
    "1.2.840.10008.5.1.4.1.1.501.4", // DICOS 2D AIT Storage
    "1.2.840.10008.5.1.4.1.1.501.5", // DICOS 3D AIT Storage
    "1.2.840.10008.5.1.4.1.1.501.6", // DICOS Quadrupole Resonance (QR) Storage
    "1.2.840.10008.5.1.4.1.1.6.1",   // Ultrasound Image Storage
    "1.2.840.10008.5.1.4.1.1.6.2",   // Enhanced US Volume Storage
    "1.2.840.10008.5.1.4.1.1.6.3",   // Photoacoustic Image Storage
    "1.2.840.10008.5.1.4.1.1.601.1", // Eddy Current Image Storage
    "1.2.840.10008.5.1.4.1.1.601.2", // Eddy Current Multi-frame Image Storage
    "1.2.840.10008.5.1.4.1.1.601.3", // Thermography Image Storage
    "1.2.840.10008.5.1.4.1.1.601.4", // Thermography Multi-frame Image Storage
    "1.2.840.10008.5.1.4.1.1.601.5", // Ultrasound Waveform Storage
    "1.2.840.10008.5.1.4.1.1.66",    // Raw Data Storage
    "1.2.840.10008.5.1.4.1.1.66.1",  // Spatial Registration Storage
    "1.2.840.10008.5.1.4.1.1.66.2",  // Spatial Fiducials Storage
    "1.2.840.10008.5.1.4.1.1.66.3",  // Deformable Spatial Registration Storage
    "1.2.840.10008.5.1.4.1.1.66.4",  // Segmentation Storage
    "1.2.840.10008.5.1.4.1.1.66.5",  // Surface Segmentation Storage
    "1.2.840.10008.5.1.4.1.1.66.6",  // Tractography Results Storage
    "1.2.840.10008.5.1.4.1.1.66.7",  // Label Map Segmentation Storage
    "1.2.840.10008.5.1.4.1.1.66.8",  // Height Map Segmentation Storage
    "1.2.840.10008.5.1.4.1.1.67",    // Real World Value Mapping Storage
    "1.2.840.10008.5.1.4.1.1.68.1",  // Surface Scan Mesh Storage
    "1.2.840.10008.5.1.4.1.1.68.2",  // Surface Scan Point Cloud Storage
    "1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.1",   // Multi-frame Single Bit Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.2",   // Multi-frame Grayscale Byte Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.3",   // Multi-frame Grayscale Word Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.4",   // Multi-frame True Color Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.1", // VL Endoscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.1.1", // Video Endoscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.2", // VL Microscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.2.1", // Video Microscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.3", // VL Slide-Coordinates Microscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.4", // VL Photographic Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.4.1", // Video Photographic Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.5.1", // Ophthalmic Photography 8 Bit Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.5.2", // Ophthalmic Photography 16 Bit Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.5.3", // Stereometric Relationship Storage
    "1.2.840.10008.5.1.4.1.1.77.1.5.4", // Ophthalmic Tomography Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.5.5", // Wide Field Ophthalmic Photography Stereographic Projection Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.5.6", // Wide Field Ophthalmic Photography 3D Coordinates Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.5.7", // Ophthalmic Optical Coherence Tomography En Face Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.5.8", // Ophthalmic Optical Coherence Tomography B-scan Volume Analysis Storage
    "1.2.840.10008.5.1.4.1.1.77.1.6",   // VL Whole Slide Microscopy Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.7",   // Dermoscopic Photography Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.8",   // Confocal Microscopy Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.9",   // Confocal Microscopy Tiled Pyramidal Image Storage
    "1.2.840.10008.5.1.4.1.1.78.1",     // Lensometry Measurements Storage
    "1.2.840.10008.5.1.4.1.1.78.2",     // Autorefraction Measurements Storage
    "1.2.840.10008.5.1.4.1.1.78.3",     // Keratometry Measurements Storage
    "1.2.840.10008.5.1.4.1.1.78.4",     // Subjective Refraction Measurements Storage
    "1.2.840.10008.5.1.4.1.1.78.5",     // Visual Acuity Measurements Storage
    "1.2.840.10008.5.1.4.1.1.78.6",     // Spectacle Prescription Report Storage
    "1.2.840.10008.5.1.4.1.1.78.7",     // Ophthalmic Axial Measurements Storage
    "1.2.840.10008.5.1.4.1.1.78.8",     // Intraocular Lens Calculations Storage
    "1.2.840.10008.5.1.4.1.1.79.1",     // Macular Grid Thickness and Volume Report Storage
    "1.2.840.10008.5.1.4.1.1.8",        // Standalone Overlay Storage (Retired)
    "1.2.840.10008.5.1.4.1.1.80.1", // Ophthalmic Visual Field Static Perimetry Measurements Storage
    "1.2.840.10008.5.1.4.1.1.81.1", // Ophthalmic Thickness Map Storage
    "1.2.840.10008.5.1.4.1.1.82.1", // Corneal Topography Map Storage
    "1.2.840.10008.5.1.4.1.1.88.11", // Basic Text SR Storage
    "1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR Storage
    "1.2.840.10008.5.1.4.1.1.88.33", // Comprehensive SR Storage
    "1.2.840.10008.5.1.4.1.1.88.34", // Comprehensive 3D SR Storage
    "1.2.840.10008.5.1.4.1.1.88.35", // Extensible SR Storage
    "1.2.840.10008.5.1.4.1.1.88.40", // Procedure Log Storage
    "1.2.840.10008.5.1.4.1.1.88.50", // Mammography CAD SR Storage
    "1.2.840.10008.5.1.4.1.1.88.59", // Key Object Selection Document Storage
    "1.2.840.10008.5.1.4.1.1.88.65", // Chest CAD SR Storage
    "1.2.840.10008.5.1.4.1.1.88.67", // X-Ray Radiation Dose SR Storage
    "1.2.840.10008.5.1.4.1.1.88.68", // Radiopharmaceutical Radiation Dose SR Storage
    "1.2.840.10008.5.1.4.1.1.88.69", // Colon CAD SR Storage
    "1.2.840.10008.5.1.4.1.1.88.70", // Implantation Plan SR Storage
    "1.2.840.10008.5.1.4.1.1.88.71", // Acquisition Context SR Storage
    "1.2.840.10008.5.1.4.1.1.88.72", // Simplified Adult Echo SR Storage
    "1.2.840.10008.5.1.4.1.1.88.73", // Patient Radiation Dose SR Storage
    "1.2.840.10008.5.1.4.1.1.88.74", // Planned Imaging Agent Administration SR Storage
    "1.2.840.10008.5.1.4.1.1.88.75", // Performed Imaging Agent Administration SR Storage
    "1.2.840.10008.5.1.4.1.1.88.76", // Enhanced X-Ray Radiation Dose SR Storage
    "1.2.840.10008.5.1.4.1.1.88.77", // Waveform Annotation SR Storage
    "1.2.840.10008.5.1.4.1.1.9",    // Standalone Curve Storage (Retired)
    "1.2.840.10008.5.1.4.1.1.9.1.1", // 12-lead ECG Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.1.2", // General ECG Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.1.3", // Ambulatory ECG Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.1.4", // General 32-bit ECG Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.100.1", // Waveform Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.9.100.2", // Waveform Acquisition Presentation State Storage
    "1.2.840.10008.5.1.4.1.1.9.2.1", // Hemodynamic Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.3.1", // Cardiac Electrophysiology Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.4.1", // Basic Voice Audio Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.4.2", // General Audio Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.5.1", // Arterial Pulse Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.6.1", // Respiratory Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.6.2", // Multi-channel Respiratory Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.7.1", // Routine Scalp Electroencephalogram Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.7.2", // Electromyogram Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.7.3", // Electrooculogram Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.7.4", // Sleep Electroencephalogram Waveform Storage
    "1.2.840.10008.5.1.4.1.1.9.8.1", // Body Position Waveform Storage
    "1.2.840.10008.5.1.4.1.1.90.1", // Content Assessment Results Storage
    "1.2.840.10008.5.1.4.1.1.91.1", // Microscopy Bulk Simple Annotations Storage
    "1.2.840.10008.5.1.4.34.10",    // RT Brachy Application Setup Delivery Instruction Storage
    "1.2.840.10008.5.1.4.34.7",     // RT Beams Delivery Instruction Storage
    "1.2.840.10008.5.1.4.38.1",     // Hanging Protocol Storage
    "1.2.840.10008.5.1.4.39.1",     // Color Palette Storage
    "1.2.840.10008.5.1.4.43.1",     // Generic Implant Template Storage
    "1.2.840.10008.5.1.4.44.1",     // Implant Assembly Template Storage
    "1.2.840.10008.5.1.4.45.1",     // Implant Template Group Storage
];

#[cfg(test)]
mod transfer_syntax_tests {
    use super::*;

    #[test]
    fn patterns_pick_transfer_syntaxes_as_orthanc_does() {
        assert_eq!(matching_transfer_syntaxes(&["*"]).len(), 42);
        assert_eq!(matching_transfer_syntaxes(&["1.2.840.10008.1.*"]).len(), 42);
        let jpeg = matching_transfer_syntaxes(&["1.2.840.10008.1.2.4.*"]);
        assert_eq!((jpeg[0], jpeg.len()), ("1.2.840.10008.1.2.4.50", 35));
        assert_eq!(
            matching_transfer_syntaxes(&["1.2.840.10008.1.2.?", IMPLICIT_LE]),
            [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, "1.2.840.10008.1.2.5"]
        );
        assert!(matching_transfer_syntaxes(&["9.9"]).is_empty());
        let mut sorted = STORAGE_TRANSFER_SYNTAXES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), STORAGE_TRANSFER_SYNTAXES.len());
    }
}
