package com.beejan.complaints.sql;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.ServiceLoader;
import org.apache.beam.sdk.expansion.ExternalTransformRegistrar;
import org.apache.beam.sdk.extensions.sql.SqlTransform;
import org.junit.Test;

public class ExternalSqlTest {

  private static ExternalSql.Configuration config(String query, String dialect) {
    ExternalSql.Configuration config = new ExternalSql.Configuration();
    config.setQuery(query);
    config.setDialect(dialect);
    return config;
  }

  @Test
  public void theExpansionServiceFindsTheSqlUrnThroughServiceLoader() {
    boolean found = false;
    for (ExternalTransformRegistrar registrar : ServiceLoader.load(ExternalTransformRegistrar.class)) {
      found |= registrar.knownBuilders().containsKey(ExternalSql.URN);
    }
    assertTrue(found);
  }

  @Test
  public void aQueryBecomesBeamsSqlTransform() {
    assertTrue(new ExternalSql.Builder().buildExternal(config("SELECT 1", null)) instanceof SqlTransform);
    assertTrue(new ExternalSql.Builder().buildExternal(config("SELECT 1", "calcite")) instanceof SqlTransform);
  }

  @Test
  public void aMissingQueryOrAnotherDialectIsRefusedSayingWhy() {
    IllegalArgumentException missing = assertThrows(
        IllegalArgumentException.class, () -> new ExternalSql.Builder().buildExternal(config(" ", null)));
    assertEquals("SqlTransform needs a query", missing.getMessage());
    IllegalArgumentException zeta = assertThrows(
        IllegalArgumentException.class, () -> new ExternalSql.Builder().buildExternal(config("SELECT 1", "zetasql")));
    assertTrue(zeta.getMessage().contains("zetasql"));
  }
}
