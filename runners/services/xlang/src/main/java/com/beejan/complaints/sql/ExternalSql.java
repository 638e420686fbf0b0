package com.beejan.complaints.sql;

import java.util.Map;
import org.apache.beam.sdk.expansion.ExternalTransformRegistrar;
import org.apache.beam.sdk.extensions.sql.SqlTransform;
import org.apache.beam.sdk.transforms.ExternalTransformBuilder;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PInput;
import org.apache.beam.sdk.values.Row;

/**
 * Beam SQL for Python's {@code apache_beam.transforms.sql.SqlTransform}: the expansion service this module's jar
 * is on expands {@link #URN} into Java's {@link SqlTransform} over the input PCollection (the table
 * {@code PCOLLECTION}) or the tagged PCollections (one table per tag).
 *
 * <p>Beam publishes the registrar of this URN only inside its shaded SQL expansion-service jar, which Maven Central
 * does not serve; this is ours, over the {@code beam-sdks-java-extensions-sql} module. Only Beam's Calcite planner
 * is there: the ZetaSQL planner is gone from Beam's Java SDK.
 */
public final class ExternalSql {

  /** The URN Python's {@code SqlTransform} asks the expansion service for. */
  public static final String URN = "beam:external:java:sql:v1";

  private ExternalSql() {}

  /** The expansion request's payload (Python's {@code SqlTransformSchema}): query, dialect and DDL. */
  public static class Configuration {
    private String query;
    private String dialect;
    private String ddl;

    public void setQuery(String query) {
      this.query = query;
    }

    public void setDialect(String dialect) {
      this.dialect = dialect;
    }

    public void setDdl(String ddl) {
      this.ddl = ddl;
    }
  }

  /** Builds the SQL transform from an expansion request; a missing query or another dialect is refused. */
  public static class Builder implements ExternalTransformBuilder<Configuration, PInput, PCollection<Row>> {
    @Override
    public PTransform<PInput, PCollection<Row>> buildExternal(Configuration config) {
      if (config.query == null || config.query.isBlank()) {
        throw new IllegalArgumentException("SqlTransform needs a query");
      }
      if (config.dialect != null && !config.dialect.equalsIgnoreCase("calcite")) {
        throw new IllegalArgumentException(
            "SqlTransform's dialect " + config.dialect + " is not served here: only Beam's Calcite SQL is");
      }
      SqlTransform sql = SqlTransform.query(config.query);
      if (config.ddl != null && !config.ddl.isBlank()) {
        sql = sql.withDdlString(config.ddl);
      }
      return sql;
    }
  }

  /** Registers {@link #URN} with the expansion service (found through {@code META-INF/services}). */
  public static class Registrar implements ExternalTransformRegistrar {
    @Override
    public Map<String, Class<? extends ExternalTransformBuilder<?, ?, ?>>> knownBuilders() {
      return Map.of(URN, Builder.class);
    }
  }
}
