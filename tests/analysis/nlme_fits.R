# Independent fits of fev_data with nlme::gls for tests/analysis/test_mmrm_nlme.py.
# Usage: Rscript nlme_fits.R fev_data.csv  -> CSV lines: model,term,estimate,se
suppressMessages(library(nlme))
d <- read.csv(commandArgs(trailingOnly = TRUE)[1])
d <- d[!is.na(d$FEV1), ]
d$ARMCD <- relevel(factor(d$ARMCD), "PBO")
d$AVISIT <- factor(d$AVISIT)
d$RACE <- factor(d$RACE)
d$SEX <- factor(d$SEX)
control <- glsControl(tolerance = 1e-10, msTol = 1e-12, maxIter = 500, msMaxIter = 500)
emit <- function(id, fit) {
  s <- summary(fit)$tTable
  cat(sprintf("%s,%s,%.10g,%.10g\n", id, rownames(s), s[, 1], s[, 2]), sep = "")
  cat(sprintf("%s,minus2,%.10g,NA\n", id, -2 * as.numeric(logLik(fit))))
}
un <- corSymm(form = ~ VISITN | USUBJID)
by_visit <- varIdent(form = ~ 1 | AVISIT)
f <- FEV1 ~ FEV1_BL + ARMCD * AVISIT
emit("us_reml", gls(f, d, correlation = un, weights = by_visit, method = "REML", control = control))
emit("us_ml", gls(f, d, correlation = un, weights = by_visit, method = "ML", control = control))
emit("cs_reml", gls(f, d, correlation = corCompSymm(form = ~ VISITN | USUBJID),
                    method = "REML", control = control))
emit("cs_ml", gls(FEV1 ~ RACE + SEX + ARMCD + AVISIT, d,
                  correlation = corCompSymm(form = ~ VISITN | USUBJID), method = "ML",
                  control = control))
emit("ar1_reml", gls(f, d, correlation = corAR1(form = ~ VISITN | USUBJID), method = "REML",
                     control = control))
emit("ar1_ml", gls(f, d, correlation = corAR1(form = ~ VISITN | USUBJID), method = "ML",
                   control = control))
# An AR(3) correlation over four visits is a general stationary one: Toeplitz.
emit("toep_reml", gls(f, d, correlation = corARMA(form = ~ VISITN | USUBJID, p = 3),
                      method = "REML", control = control))
