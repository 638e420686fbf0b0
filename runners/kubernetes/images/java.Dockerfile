# The Java side, assembled from Maven Central with the same poms as the local stack: Beam's Flink job server
# (/opt/beam/job-server) and Beam's Kafka expansion service and Java SDK worker (/opt/beam/xlang), with our own
# Kafka read (runners/services/xlang/src, built and tested by `mvn package`) on the same classpath.
# Build from the repository root:  docker build -f runners/kubernetes/images/java.Dockerfile -t complaints-java .
FROM maven:3.9-eclipse-temurin-17 AS jars
COPY runners/services/flink/pom.xml /build/flink/pom.xml
COPY runners/services/xlang/pom.xml /build/xlang/pom.xml
COPY runners/services/xlang/src /build/xlang/src
RUN mvn -q -B -f /build/flink/pom.xml dependency:copy-dependencies -DoutputDirectory=/opt/beam/job-server \
        -DincludeScope=runtime \
 && mvn -q -B -f /build/xlang/pom.xml dependency:copy-dependencies -DoutputDirectory=/opt/beam/xlang \
        -DincludeScope=runtime \
 && mvn -q -B -f /build/xlang/pom.xml package \
 && cp /build/xlang/target/beejan-kafka-read.jar /opt/beam/xlang/

FROM eclipse-temurin:17-jre
COPY --from=jars /opt/beam /opt/beam
USER 10001
