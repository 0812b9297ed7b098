"""Report layer: certificate files (JSON), the HTML/PDF report and its figures.

Typical use at the end of the verify pipeline::

    figures = {"spectrum": plot_spectrum(eigenvalues, title="Spectrum of A")}
    paths = write_report(out_dir, certificate, figures, {"A": A, "P": P})

All files are written atomically. Reading a certificate never unpickles or
evaluates anything from the file.
"""

from biosynapse_verify.report.atomic import (
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
)
from biosynapse_verify.report.certificate import (
    CERTIFICATE_FORMAT,
    FORMAT_NAME,
    FORMAT_VERSION,
    VERDICTS,
    CertificateFormatError,
    certificate_to_json,
    parse_certificate_text,
    read_certificate_json,
    replace_non_finite,
    to_json_value,
    validate_certificate,
    write_certificate_json,
)
from biosynapse_verify.report.html import MEAN_FIELD_SENTENCE, render_html, render_pdf
from biosynapse_verify.report.plots import (
    decay_rate_figure,
    distance_figure,
    figure_to_png,
    plot_decay_rates,
    plot_distance,
    plot_spectrum,
    plot_weight_histograms,
    spectrum_figure,
    weight_histogram_figure,
)
from biosynapse_verify.report.writer import read_certificate_arrays, write_report

__all__ = [
    "CERTIFICATE_FORMAT",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MEAN_FIELD_SENTENCE",
    "VERDICTS",
    "CertificateFormatError",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_writer",
    "certificate_to_json",
    "decay_rate_figure",
    "distance_figure",
    "figure_to_png",
    "parse_certificate_text",
    "plot_decay_rates",
    "plot_distance",
    "plot_spectrum",
    "plot_weight_histograms",
    "read_certificate_arrays",
    "read_certificate_json",
    "render_html",
    "render_pdf",
    "replace_non_finite",
    "spectrum_figure",
    "to_json_value",
    "validate_certificate",
    "weight_histogram_figure",
    "write_certificate_json",
    "write_report",
]
