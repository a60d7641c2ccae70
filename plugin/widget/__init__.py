"""The EHR widget door: query form, page, forest plot and the headers that let an EHR frame them."""
