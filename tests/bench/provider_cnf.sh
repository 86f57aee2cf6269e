# Sourced by the provider benchmarks. write_provider_cnf FILE MODULE SOCKET
# [EXTRA]: an openssl.cnf that loads the default provider and
# keyhold-provider.so MODULE (agent at SOCKET); EXTRA lines go into the
# [openssl_init] section.
write_provider_cnf() {
  local file=$1 module=$2 socket=$3 extra=${4:-}
  {
    printf 'openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n'
    [ -n "$extra" ] && printf '%s\n' "$extra"
    printf '[provider_sect]\ndefault = default_sect\nkeyhold = keyhold_sect\n'
    printf '[default_sect]\nactivate = 1\n'
    printf '[keyhold_sect]\nmodule = %s\nsocket = %s\nactivate = 1\n' "$module" "$socket"
  } > "$file"
}
