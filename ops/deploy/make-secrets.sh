#!/bin/sh
# The secrets of the compose deployment (README.md, "Kafka's security"), made once with openssl:
#
#   ca.pem, ca.key             a CA of the deployment's own; clients and brokers trust ca.pem
#   kafka-N.p12                each broker's key and certificate (PKCS12; names kafka-N and localhost)
#   store-password             the password of the .p12 files
#   broker-password            the brokers' own principal, `broker`: SASL/PLAIN between the brokers,
#                              to the controllers, and for the set-up job (its only super user)
#   kafka-worker-password      the SCRAM-SHA-512 passwords of the worker's and the auditor's users,
#   kafka-auditor-password     which the set-up job (python -m ops.kafka_acls) gives them
#   kafka_server_jaas.conf     the brokers' JAAS file (their listeners' login modules)
#   kafka-secrets.properties   the keystore password, for the brokers' FileConfigProvider
#   client.properties          the broker's principal for Kafka's own tools in a broker container
#
# docker-compose.yml hands each container the files it needs as secrets, in /run/secrets/.
#
#   ops/deploy/make-secrets.sh [DIR]     DIR defaults to ops/deploy/secrets; brokers: $KAFKA_BROKERS
set -eu
dir=${1:-$(dirname "$0")/secrets}
brokers=${KAFKA_BROKERS:-"kafka-1 kafka-2 kafka-3"}
days=${CERT_DAYS:-825}

umask 077
mkdir -p "$dir"
cd "$dir"
if [ -e ca.pem ]; then
    echo "$dir/ca.pem exists already; remove $dir to make new secrets" >&2
    exit 1
fi

password() { openssl rand -hex 24; }  # hex: no character that JAAS, properties or YAML would read otherwise
for name in store-password broker-password kafka-worker-password kafka-auditor-password; do
    password > "$name"
done

openssl req -x509 -newkey rsa:3072 -sha256 -days 3650 -nodes -subj "/CN=credit-ledger Kafka CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null
for broker in $brokers; do
    openssl req -newkey rsa:3072 -sha256 -nodes -subj "/CN=$broker" -keyout "$broker.key" -out "$broker.csr" 2>/dev/null
    printf 'subjectAltName=DNS:%s,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' \
        "$broker" > "$broker.ext"
    openssl x509 -req -sha256 -days "$days" -in "$broker.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -extfile "$broker.ext" -out "$broker.pem" 2>/dev/null
    openssl pkcs12 -export -name "$broker" -in "$broker.pem" -inkey "$broker.key" -certfile ca.pem \
        -passout file:store-password -out "$broker.p12"
    rm -f "$broker.key" "$broker.csr" "$broker.ext" "$broker.pem"
done
rm -f ca.srl

broker_password=$(cat broker-password)
plain="org.apache.kafka.common.security.plain.PlainLoginModule required
    username=\"broker\" password=\"$broker_password\" user_broker=\"$broker_password\";"
cat > kafka_server_jaas.conf <<EOF
client.KafkaServer {
    org.apache.kafka.common.security.scram.ScramLoginModule required;
};
internal.KafkaServer {
    $plain
};
controller.KafkaServer {
    $plain
};
EOF
printf 'keystore.password=%s\n' "$(cat store-password)" > kafka-secrets.properties
cat > client.properties <<EOF
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="$broker_password";
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/kafka-ca
EOF

# Read inside the containers by their unprivileged users (kafka: 1000, the worker: 10001): the files are
# world-readable, the directory is not (0700), and ca.key, never mounted, stays the owner's alone.
chmod 0644 -- *
chmod 0600 ca.key
echo "secrets in $dir: brokers $brokers" >&2
