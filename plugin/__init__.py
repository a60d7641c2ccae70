"""ivig-cds: evidence on IVIG and live birth in recurrent pregnancy loss, answered per patient."""

__version__ = "0.1.0"
