/* stub.c: an empty library whose soname is the absolute path of the real
 * liblmdb. Linking the deepbind tap against it records that path as the
 * tap's DT_NEEDED; at run time the loader opens the real library there. */
