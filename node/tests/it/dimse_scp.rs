//! The DICOM SCP driven by DCMTK's tools (echoscu, storescu, findscu, movescu,
//! getscu, storescp) and by hand-made associations for bad input.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{pydicom_test_files, wait_until, TestNode};
use serde_json::{json, Value};

const DCMTK: &str = "/usr/bin";

/// Runs a DCMTK tool with a deadline.
async fn dcmtk(tool: &str, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(format!("{DCMTK}/{tool}"));
    cmd.args(args).kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(60), cmd.output()).await {
        Ok(out) => out.expect("the DCMTK tool runs"),
        Err(_) => panic!("{tool} {args:?} did not finish in 60 s"),
    }
}

fn ok(out: &Output) -> bool {
    out.status.success()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// pydicom files in several transfer syntaxes, copied, each with a fresh SOP
/// instance UID (several share one): the uncompressed ones in `dir/plain`
/// (sent as a folder), the others with the storescu option proposing their
/// transfer syntax.
async fn sample_folder(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let names = [
        ("CT_small.dcm", ""),                     // explicit little endian
        ("MR_small_implicit.dcm", "-xi"),         // implicit little endian
        ("MR_small_bigendian.dcm", "-xb"),        // explicit big endian
        ("rtplan.dcm", ""),                       // RT plan, implicit
        ("image_dfl.dcm", "-xd"),                 // deflated
        ("JPEG2000.dcm", "-xw"),                  // JPEG 2000
        ("MR_small_jp2klossless.dcm", "-xv"),     // JPEG 2000 lossless
        ("MR_small_RLE.dcm", "-xr"),              // RLE
        ("MR_small_jpeg_ls_lossless.dcm", "-xt"), // JPEG-LS lossless
        ("JPGExtended.dcm", "-xx"),               // JPEG extended
        ("SC_rgb_jpeg_dcmtk.dcm", "-xy"),         // JPEG baseline
    ];
    let src = pydicom_test_files().join("test_files");
    std::fs::create_dir_all(dir.join("plain")).unwrap();
    let mut out = Vec::new();
    for (name, option) in names {
        let to = if option.is_empty() {
            dir.join("plain").join(name)
        } else {
            dir.join(name)
        };
        std::fs::copy(src.join(name), &to).expect("copy a pydicom file");
        if name.starts_with("MR_small") && name != "MR_small_implicit.dcm" {
            let r = dcmtk("dcmodify", &["-nb", "-gin", to.to_str().unwrap()]).await;
            assert!(ok(&r), "dcmodify: {}", show(&r));
        }
        out.push((to, option));
    }
    out
}

fn modalities(extra: Value) -> impl FnOnce(&mut Value) {
    move |c: &mut Value| {
        let mut m = json!({
            "findscu": ["FINDSCU", "127.0.0.1", 1],
            "movescu": ["MOVESCU", "127.0.0.1", 1],
            "getscu": ["GETSCU", "127.0.0.1", 1],
        });
        if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), extra) {
            m.extend(extra);
        }
        c["DicomModalities"] = m;
        c["DicomScpTimeout"] = json!(3);
    }
}

/// storescu of the uncompressed folder, then of each compressed file.
async fn store_all(node: &TestNode, dir: &Path, files: &[(PathBuf, &str)]) {
    let port = node.dicom_port.to_string();
    let plain = dir.join("plain");
    let out = dcmtk(
        "storescu",
        &[
            "-aet",
            "MYSTORE",
            "+sd",
            "+r",
            "127.0.0.1",
            &port,
            plain.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok(&out), "storescu of a folder: {}", show(&out));
    for (f, option) in files.iter().filter(|(_, o)| !o.is_empty()) {
        let out = dcmtk(
            "storescu",
            &[
                "-aet",
                "MYSTORE",
                option,
                "127.0.0.1",
                &port,
                f.to_str().unwrap(),
            ],
        )
        .await;
        assert!(
            ok(&out),
            "storescu {option} {}: {}",
            f.display(),
            show(&out)
        );
    }
}

/// Values of a tag in findscu's extracted answer files.
fn answers(dir: &Path, tag: isengard::dicom::Tag) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).unwrap();
            let file = isengard::dicom::reader::read_file(&bytes).expect("an answer file");
            file.dataset
                .get(tag)
                .and_then(|e| e.bytes())
                .map(|b| {
                    String::from_utf8_lossy(b)
                        .trim_end_matches(['\0', ' '])
                        .to_owned()
                })
                .unwrap_or_default()
        })
        .collect()
}

async fn find(node: &TestNode, root: &str, keys: &[&str]) -> (Output, tempfile::TempDir) {
    let out_dir = tempfile::tempdir().unwrap();
    let port = node.dicom_port.to_string();
    let mut args = vec![root, "-X", "-od", out_dir.path().to_str().unwrap()];
    for k in keys {
        args.push("-k");
        args.push(k);
    }
    args.extend(["127.0.0.1", &port]);
    let out = dcmtk("findscu", &args).await;
    (out, out_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_store_find_move_get_with_dcmtk() {
    // A storescp destination for C-MOVE, on a free port.
    let dest_dir = tempfile::tempdir().unwrap();
    let dest_port = common::free_port();
    let node = TestNode::start_with(modalities(
        json!({"dest": ["STORESCP", "127.0.0.1", dest_port]}),
    ))
    .await;
    let port = node.dicom_port.to_string();

    // C-ECHO
    let out = dcmtk("echoscu", &["-aet", "ANYONE", "127.0.0.1", &port]).await;
    assert!(ok(&out), "echoscu: {}", show(&out));

    // C-STORE of a folder in many transfer syntaxes.
    let folder = tempfile::tempdir().unwrap();
    let files = sample_folder(folder.path()).await;
    store_all(&node, folder.path(), &files).await;
    for (f, option) in &files {
        let bytes = std::fs::read(f).unwrap();
        let parsed = isengard::dicom::parse(&bytes).unwrap();
        let id = &parsed.ids.instance;
        let (status, meta) = node.get(&format!("/instances/{id}/metadata?expand")).await;
        assert_eq!(status, 200, "{} not stored", f.display());
        assert_eq!(meta["Origin"], "DicomProtocol");
        assert_eq!(meta["RemoteAET"], "MYSTORE");
        assert_eq!(meta["CalledAET"], "ANY-SCP");
        assert_eq!(meta["RemoteIP"], "127.0.0.1");
        // storescu sends the folder in explicit little endian, the others as they are.
        let ts = if option.is_empty() {
            "1.2.840.10008.1.2.1"
        } else {
            parsed.transfer_syntax.as_str()
        };
        assert_eq!(meta["TransferSyntax"], ts, "{}", f.display());
        // The stored file is the received data set behind our meta header:
        // pixel data bytes unchanged (storescu may drop group lengths).
        let (_, stored) = node.get_bytes(&format!("/instances/{id}/file")).await;
        let stored = isengard::dicom::reader::read_file(&stored).unwrap();
        assert_eq!(stored.transfer_syntax, ts);
        let pixels = |d: &isengard::dicom::DicomFile| {
            d.dataset.get(isengard::dicom::Tag(0x7fe0, 0x0010)).cloned()
        };
        assert!(
            pixels(&stored) == pixels(&parsed.object),
            "pixel data of {} changed",
            f.display()
        );
    }
    // A second store of the same files: duplicates are successes.
    store_all(&node, folder.path(), &files).await;
    let (_, instances) = node.get("/instances").await;
    assert_eq!(instances.as_array().unwrap().len(), files.len());

    // C-FIND at each level.
    let name = |tag| isengard::dicom::Tag(0x0010, tag);
    let (out, dir) = find(
        &node,
        "-P",
        &[
            "QueryRetrieveLevel=PATIENT",
            "PatientName=compressed*",
            "PatientID",
            "NumberOfPatientRelatedStudies",
        ],
    )
    .await;
    assert!(ok(&out), "findscu: {}", show(&out));
    let mut names = answers(dir.path(), name(0x0010));
    names.sort();
    assert_eq!(
        names,
        [
            "CompressedSamples^CT1",
            "CompressedSamples^MR1",
            "CompressedSamples^NM1"
        ]
    );
    let (_, dir) = find(
        &node,
        "-S",
        &[
            "QueryRetrieveLevel=STUDY",
            "StudyDate=20040101-20041231",
            "StudyInstanceUID",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedInstances",
        ],
    )
    .await;
    let mut modalities = answers(dir.path(), isengard::dicom::Tag(0x0008, 0x0061));
    modalities.sort();
    assert_eq!(modalities, ["CT", "MR", "NM"]);
    let (_, dir) = find(
        &node,
        "-S",
        &[
            "QueryRetrieveLevel=STUDY",
            "ModalitiesInStudy=MR",
            "NumberOfStudyRelatedInstances",
        ],
    )
    .await;
    assert_eq!(
        answers(dir.path(), isengard::dicom::Tag(0x0020, 0x1208)),
        ["5"]
    );
    let (_, dir) = find(
        &node,
        "-S",
        &[
            "QueryRetrieveLevel=SERIES",
            "Modality=RTPLAN\\OT",
            "SeriesInstanceUID",
        ],
    )
    .await;
    let mut m = answers(dir.path(), isengard::dicom::Tag(0x0008, 0x0060));
    m.sort();
    assert_eq!(m, ["OT", "OT", "RTPLAN"]);
    let (_, dir) = find(
        &node,
        "-S",
        &[
            "QueryRetrieveLevel=IMAGE",
            "PatientName=Lestr?de*",
            "SOPInstanceUID",
            "SOPClassUID",
        ],
    )
    .await;
    assert_eq!(
        answers(dir.path(), isengard::dicom::Tag(0x0008, 0x0018)),
        ["1.2.276.0.7230010.3.1.4.8323329.15150.1506363677.126194"]
    );
    // Unknown calling AE: C-FIND refused, nothing answered.
    let out_dir = tempfile::tempdir().unwrap();
    let refused = dcmtk(
        "findscu",
        &[
            "-S",
            "-aet",
            "STRANGER",
            "-X",
            "-od",
            out_dir.path().to_str().unwrap(),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        0,
        "{}",
        show(&refused)
    );

    // C-MOVE of the MR study to a storescp.
    let scp = common::storescp(dest_dir.path(), "STORESCP", dest_port, &["+xa"]).await;
    let out = dcmtk(
        "movescu",
        &[
            "-S",
            "-aet",
            "MOVESCU",
            "-aem",
            "STORESCP",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "PatientName=CompressedSamples^MR1",
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    assert!(ok(&out), "movescu: {}", show(&out));
    let count = || {
        std::fs::read_dir(dest_dir.path())
            .map(|d| d.count())
            .unwrap_or(0)
    };
    wait_until(
        Duration::from_secs(10),
        "5 files reach storescp",
        || async { count() >= 5 },
    )
    .await;
    // An unknown destination: A801, nothing sent.
    let out = dcmtk(
        "movescu",
        &[
            "-S",
            "-aet",
            "MOVESCU",
            "-aem",
            "NOWHERE",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "PatientName=CompressedSamples^CT1",
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("a801")
            || !ok(&out)
            || count() == 5,
        "{}",
        show(&out)
    );
    drop(scp);

    // C-GET of the CT study on the same association.
    let get_dir = tempfile::tempdir().unwrap();
    let out = dcmtk(
        "getscu",
        &[
            "-S",
            "-aet",
            "GETSCU",
            "-od",
            get_dir.path().to_str().unwrap(),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "PatientName=CompressedSamples^CT1",
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    assert!(ok(&out), "getscu: {}", show(&out));
    assert_eq!(
        std::fs::read_dir(get_dir.path()).unwrap().count(),
        1,
        "{}",
        show(&out)
    );
}
