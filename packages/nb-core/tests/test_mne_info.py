"""Lossless measurement info: everything in MNE's ``info`` survives Recording.from_mne/to_mne.

Compared with ``mne.utils.object_diff(info_before, info_after)``, which must be empty.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from pathlib import Path

import mne
import numpy as np
import pytest
from mne._fiff._digitization import DigPoint
from mne.io.constants import FIFF
from mne.transforms import Transform
from mne.utils import object_diff

from nb_core import Recording
from nb_core.errors import CorruptDataError, SchemaError
from nb_core.testing import simulate_raw, write_brainvision, write_edf


def _twice(raw: mne.io.BaseRaw) -> mne.io.BaseRaw:
    """Two round trips, each through the JSON every layout stores."""
    for _ in range(2):
        rec = Recording.from_mne(raw)
        raw = Recording.from_dict(rec.to_dict(), data=rec.data).to_mne()
    return raw


def _meg_fif(tmp_path: Path) -> mne.io.BaseRaw:
    """A FIF file with what real MEG files carry: magnetometers in device coordinates plus
    stim/EEG/EOG and reference channels, an SSS-like ``proc_history``, SSP projectors, CTF
    compensation and transforms, an identity ``dev_head_t``, HPI results and subsystem, device and
    helium info, ``utc_offset``, ``kit_system_id``, project id/name, and ``first_samp``."""
    n = 24
    z = np.linspace(0.1, 0.95, n)
    th = np.pi * (3 - np.sqrt(5)) * np.arange(n)
    pos = np.c_[np.sqrt(1 - z**2) * np.cos(th), np.sqrt(1 - z**2) * np.sin(th), z] * 0.12
    names = [f"MEG {i:04d}" for i in range(n)] + ["STI 014", "EEG 001", "EOG 061", "REF 001", "REF 002"]
    info = mne.create_info(names, 200.0, ["mag"] * n + ["stim", "eeg", "eog", "ref_meg", "ref_meg"])
    t = np.eye(4)
    t[:3, 3] = [0.001, -0.002, 0.03]
    with info._unlock():
        for i in range(n):
            ez = pos[i] / np.linalg.norm(pos[i])
            ex = np.cross([0.0, 0.0, 1.0], ez)
            ex /= np.linalg.norm(ex)
            info["chs"][i].update(
                loc=np.r_[pos[i], ex, np.cross(ez, ex), ez],
                coil_type=FIFF.FIFFV_COIL_POINT_MAGNETOMETER,
                coord_frame=FIFF.FIFFV_COORD_DEVICE,
            )
        info["chs"][n + 1]["loc"][:3] = [0.0, 0.0, 0.1]
        info["dev_head_t"] = Transform("meg", "head", np.eye(4))
        info["ctf_head_t"] = Transform("ctf_head", "head", t)
        info["dev_ctf_t"] = Transform("meg", "ctf_head", np.linalg.inv(t))
        info["utc_offset"] = "+01:00"
        info["kit_system_id"] = 52
        info["proj_id"] = 7
        info["proj_name"] = "hardening"
        info["hpi_subsystem"] = {
            "ncoil": 2,
            "event_channel": "STI 201",
            "hpi_coils": [{"event_bits": np.array([256, 0, 256, 256], np.int32)}] * 2,
        }
        hpi_dig = [
            DigPoint(
                kind=FIFF.FIFFV_POINT_HPI, ident=i + 1, r=np.array([0.01 * i, 0.05, 0.02]), coord_frame=4
            )
            for i in range(3)
        ]
        info["hpi_results"] = [
            {
                "dig_points": hpi_dig,
                "order": np.array([1, 2, 3], np.int32),
                "used": np.array([1, 2, 3], np.int32),
                "moments": np.arange(9, dtype=np.float64).reshape(3, 3) * 1e-9,
                "goodness": np.array([0.99, 0.98, 0.97]),
                "good_limit": 0.98,
                "dist_limit": 0.005,
                "accept": 1,
                "coord_trans": Transform("meg", "head", np.eye(4)),
            }
        ]
        info["device_info"] = {"type": "TRIUX", "model": "neo", "serial": "1234", "site": "lab"}
        info["helium_info"] = {
            "he_level_raw": 80.5,
            "helium_level": 78.0,
            "orig_file_guid": "guid-1",
            "gantry_angle": 60,
            "meas_date": dt.datetime(2022, 2, 1, tzinfo=dt.UTC),
        }
        info["comps"] = [
            {
                "ctfkind": 1,
                "kind": 1,
                "save_calibrated": True,
                "rowcals": np.ones(n),
                "colcals": np.ones(2),
                "data": {
                    "nrow": n,
                    "ncol": 2,
                    "row_names": names[:n],
                    "col_names": ["REF 001", "REF 002"],
                    "data": np.linspace(-0.1, 0.1, 2 * n).reshape(n, 2),
                },
            }
        ]
        info["proc_history"] = [
            {
                "block_id": {
                    "machid": np.array([1, 2], np.int32),
                    "secs": 1643861106,
                    "usecs": 7,
                    "version": 65540,
                },
                "creator": "maxfilter-like",
                "date": np.array([1643861106, 7], np.int32),
                "experimenter": "nb",
                "max_info": {
                    "sss_info": {
                        "components": np.r_[np.zeros(3), np.ones(12)].astype(np.int32),
                        "frame": FIFF.FIFFV_COORD_HEAD,
                        "in_order": 3,
                        "job": 2,
                        "nchan": n,
                        "nfree": 12,
                        "origin": np.array([0.0, 0.0, 0.04], np.float32),
                        "out_order": 2,
                    },
                    "max_st": {},
                    "sss_ctc": {},
                    "sss_cal": {},
                },
            }
        ]
    info.set_meas_date(dt.datetime(2022, 2, 3, 4, 5, 6, 7000, tzinfo=dt.UTC))
    rng = np.random.default_rng(0)
    data = rng.normal(size=(len(names), 600)) * 1e-12
    data[n] = 0
    data[n, 100::200] = 5
    data[n + 1 :] *= 1e6
    raw = mne.io.RawArray(data, info, first_samp=300, verbose="error")
    raw.add_proj(mne.compute_proj_raw(raw, n_mag=2, n_eeg=0, n_grad=0, verbose="error"), verbose="error")
    raw.annotations.append(0.5, 0.1, "BAD_jump")
    path = tmp_path / "meg_raw.fif"
    raw.save(path, verbose="error")
    return mne.io.read_raw_fif(path, verbose="error")


def test_meg_fif_info_survives_whole(tmp_path: Path) -> None:
    raw = _meg_fif(tmp_path)
    info = raw.info
    for key in (
        "proc_history",
        "projs",
        "hpi_subsystem",
        "hpi_results",
        "comps",
        "device_info",
        "helium_info",
    ):
        assert info[key], key
    back = _twice(raw)
    assert object_diff(info, back.info) == ""
    np.testing.assert_array_equal(back.get_data(), raw.get_data())
    # What the issue saw go wrong: the rank after SSS, the identity dev_head_t, the transforms.
    assert mne.compute_rank(back, rank="info", verbose="error") == mne.compute_rank(
        raw, rank="info", verbose="error"
    )
    with pytest.raises(RuntimeError, match="already"):  # SSS is not applied twice
        mne.preprocessing.maxwell_filter(back, origin=(0.0, 0.0, 0.04), verbose="error")
    for key in ("dev_head_t", "ctf_head_t", "dev_ctf_t"):
        assert info[key] is not None, key  # the file has them, so the comparison is not vacuous
        np.testing.assert_array_equal(back.info[key]["trans"], info[key]["trans"])
        assert (back.info[key]["from"], back.info[key]["to"]) == (info[key]["from"], info[key]["to"])
    assert [c["coord_frame"] for c in back.info["chs"]] == [c["coord_frame"] for c in info["chs"]]
    assert info["meas_id"] is not None
    assert back.info["meas_id"]["machid"].tolist() == info["meas_id"]["machid"].tolist()
    assert back.info["meas_id"]["secs"] == info["meas_id"]["secs"]


def test_simulated_eeg_with_custom_reference(tmp_path: Path) -> None:
    raw = simulate_raw(n_channels=21, duration=2.0, seed=4, n_eog=1)
    raw.set_eeg_reference(["Cz"], verbose="error")
    raw.info["bads"] = ["Fp1"]
    assert raw.info["custom_ref_applied"]
    back = _twice(raw)
    assert object_diff(raw.info, back.info) == ""  # float64 locations and dig included
    assert back.info["custom_ref_applied"] == raw.info["custom_ref_applied"]
    edf = mne.io.read_raw_edf(
        write_edf(tmp_path / "r.edf", np.zeros((2, 500)), 250, ["A", "B"]), verbose="error"
    )
    assert object_diff(edf.info, _twice(edf).info) == ""
    # BrainVision's µV range (1e-6) is not a float32 number: kept as float64 beside the FIF bytes.
    vhdr = write_brainvision(
        tmp_path / "r.vhdr", np.zeros((2, 500)), 250.0, ["A", "B"], meas_date=dt.datetime(2020, 1, 1)
    )
    bv = mne.io.read_raw_brainvision(vhdr, verbose="error")
    assert "range" in (Recording.from_mne(bv).mne_info or {})
    assert object_diff(bv.info, _twice(bv).info) == ""


def test_readable_fields_win_over_the_stored_info() -> None:
    raw = simulate_raw(n_channels=8, duration=1.0, seed=2)
    rec = Recording.from_mne(raw)
    assert rec.data is not None
    rec.channels, rec.data = rec.channels[2:6], rec.data[2:6]  # a channel subset
    rec.bads = [rec.channels[0].name]
    rec.description = "edited"
    back = rec.to_mne()
    assert back.ch_names == raw.ch_names[2:6]
    assert back.info["bads"] == rec.bads and back.info["description"] == "edited"
    assert (
        object_diff(raw.copy().pick(raw.ch_names[2:6]).info, back.info).count("\n") == 2
    )  # bads, description
    rec.channels[1].type = "misc"  # types changed: the stored info no longer applies
    assert rec.to_mne().get_channel_types()[1] == "misc"


def test_recordings_without_stored_info_still_convert() -> None:
    raw = simulate_raw(n_channels=4, duration=1.0, seed=1)
    rec = Recording.from_mne(raw)
    d = rec.to_dict()
    d.pop("mne_info")
    assert "mne_info" not in Recording.from_mne(raw, keep_info=False).to_dict()
    back = Recording.from_dict(d, data=rec.data).to_mne()
    np.testing.assert_array_equal(back.get_data(), raw.get_data())
    assert back.ch_names == raw.ch_names


def test_stored_info_is_validated() -> None:
    raw = simulate_raw(n_channels=3, duration=1.0, seed=1)
    rec = Recording.from_mne(raw)
    good = rec.to_dict()
    blob = base64.b64decode(good["mne_info"]["fif"])

    def with_info(**kw: object) -> dict:
        d = copy.deepcopy(good)
        d["mne_info"].update(kw)
        return d

    for bad, err, msg in [
        (with_info(fif="not base64!"), SchemaError, "base64"),
        (with_info(sha256="0" * 64), CorruptDataError, "sha256"),
        (with_info(sha256="xyz"), SchemaError, "sha256"),
        (with_info(unset=["chs"]), SchemaError, "unknown info keys"),
        (with_info(surprise=1), SchemaError, "unknown field"),
    ]:
        with pytest.raises(err, match=msg):
            Recording.from_dict(bad)
    # Well-formed tags with nonsense inside: MNE's own error becomes a one-line CorruptDataError.
    junk = bytearray(blob)
    junk[16:36] = b"\xff" * 20  # the file id's contents
    junk[-4:] = b"\x7f\xff\xff\xff"
    junk = bytes(junk)
    hostile = with_info(fif=base64.b64encode(junk).decode(), sha256=hashlib.sha256(junk).hexdigest())
    try:
        Recording.from_dict(hostile, data=rec.data).to_mne()
    except CorruptDataError as err:
        assert "mne_info" in str(err)
    # A tag whose `next` points back to the start would make MNE's reader loop forever.
    looping = bytearray(blob)
    looping[12:16] = (16).to_bytes(4, "big")
    bad_size = bytearray(blob)
    bad_size[44:48] = (-100).to_bytes(4, "big", signed=True)  # the second tag's size
    for hostile_blob, msg in [
        (bytes(looping), "malformed tag"),
        (bytes(bad_size), "malformed tag"),
        (blob + b"x", "after"),
    ]:
        with pytest.raises(CorruptDataError, match=msg):
            Recording.from_dict(
                with_info(
                    fif=base64.b64encode(hostile_blob).decode(),
                    sha256=hashlib.sha256(hostile_blob).hexdigest(),
                )
            )
    not_fif = b"PK\x03\x04" + blob
    with pytest.raises(CorruptDataError, match="not a FIF file"):
        Recording.from_dict(
            with_info(fif=base64.b64encode(not_fif).decode(), sha256=hashlib.sha256(not_fif).hexdigest())
        )
