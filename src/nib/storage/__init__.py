"""The Storage service: buckets, files, uploads, downloads and previews (Appwrite 1.5)."""
