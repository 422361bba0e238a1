"""Population audit: every IOP episode and order of a Bulk export or Bundles folder, on Dask (``iop-cds audit``)."""
