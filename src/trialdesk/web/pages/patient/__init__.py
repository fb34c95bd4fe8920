"""The patient's own pages (issue 14): a diary answered on the patient's phone through a
personal link (`/p/<token>/`), with no sign-in and nothing on the page that names them."""
