"""Operations on a whole instance or project: backups and restore, export and import, migration
from another server."""
